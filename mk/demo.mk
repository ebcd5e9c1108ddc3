# make demo: the guided tour (grows with each part of hpm).
.PHONY: demo
demo: all
	@B="$(B)" bash scripts/demo.sh
