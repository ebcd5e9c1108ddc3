# mk/deb.mk: the Debian packages, from debian/ (dpkg-buildpackage, debhelper).
#
#   make deb    hpm, hpm-tools, hpm-boot (and their -dbgsym) into $(B)/deb/:
#               the .deb and .ddeb files, the .buildinfo and the .changes
#               (`lintian $(B)/deb/*.changes` checks them).  It reuses this
#               build (debian/rules runs `make shipped` and `make install` with
#               B=$(B)), needs .deps/ (`make deps`, run first: the package
#               build itself never downloads) and the Build-Depends of
#               debian/control; it writes nothing outside the tree and cleans
#               debian/ after itself (--post-clean).
#   make check-deb (mk/tests.mk) builds, lints and installs them.

DEB_OUT := $(B)/deb

.PHONY: deb
deb: $(DEPS_STAMP)
	@rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)
	@set -e; v=$$(dpkg-parsechangelog -S Version); a=$$(dpkg-architecture -qDEB_HOST_ARCH); \
	  HPM_BUILD_DIR='$(B)' HPM_DEB_DESTDIR='$(DEB_OUT)' dpkg-buildpackage -us -uc -b -Jauto --post-clean \
	    --buildinfo-option=-u'$(DEB_OUT)' --buildinfo-file='$(DEB_OUT)'/hpm_$${v}_$${a}.buildinfo \
	    --changes-option=-u'$(DEB_OUT)' --changes-file='$(DEB_OUT)'/hpm_$${v}_$${a}.changes
	@ls -1 $(DEB_OUT)
