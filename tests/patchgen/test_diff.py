# SPDX-License-Identifier: MIT
"""hpm-patchgen diff on small crafted programs: exactly the changed
functions, __LINE__-only changes, inlining, clones, statics of the same name
in two files, and every refusal class (docs/hotpatch-authoring.md)."""
import shutil

import pytest

from hpmtest import OK, PATCHGEN, REFUSED, USAGE, run
from project import Project, inlined_counts, local_symbol, payload_relocs, pg_json, replaced

UTIL_H = """struct shape { int w, h; };
static inline int clamp(int x) { return x > 100 ? 100 : x; }
"""
A_C = """#include <stdio.h>
#include "util.h"
static int counter = 1;
static int table[4] = {1, 2, 3, 4};
__attribute__((noinline)) static int helper(int a, int b) { return a * b + table[a & 3]; }
int f(int x) { counter++; return helper(x, 3) + clamp(x); }
int g(int x) { return helper(x, 3) * 2 + counter; }
int report(int x) {
  printf("report %d at line %d\\n", x, __LINE__);
  return x + 1;
}
int area(struct shape *s) { return s->w * s->h; }
"""
B_C = """#include "util.h"
static int counter __attribute__((aligned(4096)));
int other(int x) { counter += x; return counter; }
int perimeter(struct shape *s) { return 2 * (s->w + s->h); }
"""
ASM_S = """	.text
	.globl asmfn
	.type asmfn, @function
asmfn:
	movl $1, %eax
	ret
	.size asmfn, .-asmfn
	.section .note.GNU-stack,"",@progbits
"""
MAIN_C = """#include <stdio.h>
#include <stdlib.h>
#include "util.h"
int f(int), g(int), report(int), other(int), area(struct shape *), perimeter(struct shape *), asmfn(void);
int main(int argc, char **argv) {
  int x = argc > 1 ? atoi(argv[1]) : 5;
  struct shape s = {x, 2};
  printf("%d %d %d %d %d %d\\n", f(x), g(x), other(x), area(&s), perimeter(&s), asmfn());
  return report(x) == 0;
}
"""
FILES = {"util.h": UTIL_H, "a.c": A_C, "b.c": B_C, "asm.S": ASM_S, "main.c": MAIN_C}


@pytest.fixture(scope="module")
def proj(tmp_path_factory):
    return Project(tmp_path_factory.mktemp("proj"), FILES)


def test_changed_function_is_exactly_that_function(proj):
    r, out = proj.diff(proj.patch("one", {"b.c": B_C.replace("counter += x;", "counter += 2 * x;")}))
    assert replaced(out) == ["other"], r.err
    assert "1 changed function(s) in 1 unit(s); 1 redirected" in r.err
    assert "other (" in r.err and "entry redirect" in r.err


def test_statics_of_the_same_name_in_two_files(proj):
    """b.c's counter and a.c's counter: each replaced function refers to its own file's."""
    ca, cb = local_symbol(proj.exe, "a.c", "counter"), local_symbol(proj.exe, "b.c", "counter")
    assert abs(ca - cb) > 256  # aligned(4096) keeps them apart, so the check below tells them apart
    for fname, src, text, mine, theirs in (
            ("b.c", "b.c", B_C.replace("counter += x;", "counter += 3 * x;"), cb, ca),
            ("a.c", "a.c", A_C.replace("counter++;", "counter += 5;"), ca, cb)):
        _, out = proj.diff(proj.patch(f"static-{fname}", {src: text}), out=proj.d / f"static-{fname}.payload")
        targets = [v for _, _, base, v in payload_relocs(out) if base == 2]
        assert any(abs(v - mine) <= 16 for v in targets), (hex(mine), [hex(v) for v in targets])
        assert not any(abs(v - theirs) <= 16 for v in targets)


def test_line_only_change_is_nothing(proj):
    """Lines added above report() (which prints __LINE__) change no code: no payload."""
    moved = A_C.replace('#include "util.h"\n', '#include "util.h"\n/* a comment\n   of three\n   lines */\n')
    r, out = proj.diff(proj.patch("lines", {"a.c": moved}), out=proj.d / "lines.payload", check=REFUSED)
    assert "nothing changed" in r.err and not out.exists(), r.err
    # ... while a real change below the moved lines is found, and report() still is not
    r, out = proj.diff(proj.patch("lines2", {"a.c": moved.replace("* 2 + counter", "* 4 + counter")}))
    assert replaced(out) == ["g"], r.err


def test_static_inline_change_replaces_its_callers(proj):
    r, out = proj.diff(proj.patch("inline", {"util.h": UTIL_H.replace("100 ? 100", "50 ? 50")}))
    assert replaced(out) == ["f"], r.err
    assert "carries the inlined code of clamp" in r.err
    assert "3 unit(s)" in r.err  # a header: every C unit was compiled and compared (not asm.S)


def test_clone_is_never_redirected(proj):
    """helper exists only as helper.constprop.0 (b == 3): its callers are replaced instead."""
    syms = run("readelf", "-sW", proj.exe).stdout
    assert "helper.constprop.0" in syms and " helper\n" not in syms
    r, out = proj.diff(proj.patch("clone", {"a.c": A_C.replace("a * b +", "a * b + 1 +")}))
    assert replaced(out) == ["f", "g"], r.err
    assert "helper.constprop.0 (a compiler clone or part): not redirected" in r.err
    assert "calls the changed clone helper.constprop.0" in r.err


def test_patches_are_cumulative(proj):
    first = {"b.c": B_C.replace("counter += x;", "counter += 2 * x;")}
    p1 = proj.patch("c1", first)
    p2 = proj.patch("c2", {"a.c": A_C.replace("* 2 + counter", "* 3 + counter")}, base=first)
    r, out = proj.diff(p1, p2)
    assert replaced(out) == ["g", "other"], r.err


REFUSALS = [
    ("changed-data", {"a.c": A_C.replace("{1, 2, 3, 4}", "{1, 2, 3, 5}")}, "a.c: the patch changes the initial value of 'table'"),
    ("changed-type", {"b.c": B_C.replace("static int counter ", "static long counter ")}, "size of 'counter' (4 -> 8 bytes)"),
    ("new-tls", {"b.c": B_C.replace("int other(int x) {", "static __thread int seen;\nint other(int x) { seen++;")},
     "b.c: the patch adds the thread-local variable 'seen'"),
    ("ifunc", {"b.c": B_C + "static int impl(int x) { return x; }\nstatic void *pick(void) { return impl; }\n"
                            "int picked(int) __attribute__((ifunc(\"pick\")));\n"}, "b.c: 'picked' is an IFUNC"),
    ("assembly", {"asm.S": ASM_S.replace("$1", "$2")}, "asm.S: the patch changes an assembly source"),
    ("struct-layout", {"util.h": UTIL_H.replace("int w, h;", "int d, w, h;")}, "layout of struct/union 'shape'"),
    ("new-data", {"b.c": B_C.replace("int other(int x) {", "static int extra;\nint other(int x) { extra++;")},
     "b.c: the patch adds the writable variable 'extra'"),
]


@pytest.mark.parametrize("cls,changes,says", REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals(proj, cls, changes, says):
    r, out = proj.diff(proj.patch(f"refuse-{cls}", changes), out=proj.d / f"{cls}.payload", check=REFUSED)
    assert f"refused [{cls}]: " in r.err and says in r.err, r.err
    assert "no payload written" in r.err and not out.exists()


def test_producer_mismatch_names_both(tmp_path):
    """The compile database says -O1, the binary was built with -O2: refused, both named."""
    p = Project(tmp_path, {"b.c": B_C, "util.h": UTIL_H, "main.c": "int other(int);\nint main(void) { return other(1); }\n"},
                cflags=["-O2", "-g"], db_cflags=["-O1", "-g"])
    r, _ = p.diff(p.patch("p", {"b.c": B_C.replace("+= x", "+= 2 * x")}), check=REFUSED)
    assert "refused [producer]: b.c:" in r.err and "-O1" in r.err and "-O2" in r.err, r.err


def test_no_dwarf_is_refused(tmp_path):
    p = Project(tmp_path, {"b.c": B_C, "util.h": UTIL_H, "main.c": "int other(int);\nint main(void) { return other(1); }\n"},
                cflags=["-O2"])
    r, _ = p.diff(p.patch("p", {"b.c": B_C.replace("+= x", "+= 2 * x")}), check=REFUSED)
    assert "no DWARF" in r.err and "-g" in r.err, r.err


def test_patch_that_does_not_apply(proj, tmp_path):
    bad = tmp_path / "bad.patch"
    bad.write_text("--- a/b.c\n+++ b/b.c\n@@ -1,1 +1,1 @@\n-no such line\n+x\n")
    r, _ = proj.diff(bad, check=REFUSED)
    assert "bad.patch does not apply" in r.err, r.err


def test_usage():
    r = run(PATCHGEN, "diff", "--help")
    assert r.out.startswith("usage: hpm-patchgen diff ") and r.err == ""
    r = run(PATCHGEN, "diff", "--binary", "x", check=USAGE)
    assert r.err == "hpm-patchgen: --source DIR is required\nTry 'hpm-patchgen diff --help'.\n"
    r = run(PATCHGEN, "--help", check=OK)
    assert "hpm-patchgen diff" in r.out


def test_dynsym_fallback_is_a_warning(tmp_path):
    """Hand-written mode on a stripped binary without its debug file: symbols from
    .dynsym, said as a warning that names where the debug file was looked for."""
    p = Project(tmp_path, {"b.c": B_C, "util.h": UTIL_H, "main.c": "int other(int);\nint main(void) { return other(1); }\n"},
                ldflags=["-rdynamic"])
    stripped = tmp_path / "prog.stripped"
    shutil.copy(p.exe, stripped)
    run("strip", stripped)
    (tmp_path / "map").write_text("other=other_v\n")
    (tmp_path / "fix.c").write_text("int other_v(int x) { return x; }\n")
    r = run(PATCHGEN, "--target", stripped, "--map", tmp_path / "map", "--source", tmp_path / "fix.c",
            "--debug-dir", tmp_path / "nodebug", "--out", tmp_path / "o.bin", "--json")
    bid = run("readelf", "-n", stripped).stdout.split("Build ID: ")[1].split()[0]
    where = f"{tmp_path / 'nodebug'}/.build-id/{bid[:2]}/{bid[2:]}.debug"
    assert "warning:" in r.err and "come from .dynsym" in r.err and where in r.err, r.err
    doc = pg_json(r)
    assert doc["symbols"] == {"from": "dynsym", "debug_file": where, "debug_file_found": False}
    assert len(doc["warnings"]) == 1 and where in doc["warnings"][0]


def test_library_call_through_the_binarys_plt(proj):
    """report() calls printf: the replacement calls the binary's own PLT stub for it."""
    r, out = proj.diff(proj.patch("plt", {"a.c": A_C.replace("return x + 1;", "return x + 2;")}),
                       out=proj.d / "plt.payload")
    assert replaced(out) == ["report"], r.err
    assert r.err.count("printf: called through the binary's PLT entry at 0x") == 1, r.err


def test_stripped_binary_with_its_debug_file(proj, tmp_path):
    """The diff mode reads symbols and DWARF from the debug file of a stripped
    binary (what a -dbgsym package ships): the same payload as from the full binary."""
    patch = proj.patch("dbg", {"b.c": B_C.replace("counter += x;", "counter += 7 * x;")})
    _, full = proj.diff(patch, out=tmp_path / "full.payload")
    debug, bare = tmp_path / "prog.debug", tmp_path / "prog.stripped"
    run("objcopy", "--only-keep-debug", proj.exe, debug)
    shutil.copy(proj.exe, bare)
    run("strip", "--strip-all", bare)
    r = run(PATCHGEN, "diff", "--binary", bare, "--debug-file", debug, "--source", proj.src,
            "--compile-db", proj.db, "--patch", patch, "--out", tmp_path / "bare.payload")
    assert f"symbols of {bare} from {debug}" in r.err
    assert (tmp_path / "bare.payload").read_bytes() == full.read_bytes()
    r = run(PATCHGEN, "diff", "--binary", bare, "--debug-dir", tmp_path / "none", "--source", proj.src,
            "--compile-db", proj.db, "--patch", patch, "--out", tmp_path / "x.payload", check=REFUSED)
    assert "no DWARF" in r.err and str(tmp_path / "none") in r.err, r.err


R_C = """__attribute__((noinline)) int leaf(int x) { return (x * 3 + 1) ^ (x >> 2) ^ (x << 5); }
__attribute__((noinline)) int caller(int x, int y) { int r = leaf(x); return r + y * 7; }
__attribute__((noinline)) int mid(int x) { return leaf(x) * 5 + 2; }
__attribute__((noinline)) int top(int x, int y) { int r = mid(x); return r + y * 9; }
"""
R_MAIN = ("int caller(int, int), top(int, int);\n"
          "int main(int argc, char **argv) { (void)argv; return caller(argc, argc + 1) == top(argc, 3); }\n")
CLOBBER = '__asm__ volatile("xor %%esi, %%esi" ::: "rsi"); '


@pytest.fixture(scope="module")
def ipa(tmp_path_factory):
    p = Project(tmp_path_factory.mktemp("ipa"), {"r.c": R_C, "main.c": R_MAIN})
    body = run("objdump", "-d", "--no-show-raw-insn", p.exe).stdout.split("<caller>:")[1].split("\n\n")[0]
    assert "%esi" in body.split("call")[1], body  # caller keeps y in esi across the call (-fipa-ra)
    return p


def test_ipa_ra_caller_relying_on_a_register_is_refused(ipa, tmp_path):
    """Hand-written leaf that writes rsi: caller keeps y in esi across its call to leaf."""
    (tmp_path / "map").write_text("leaf=leaf_v\n")
    (tmp_path / "bad.c").write_text("int leaf_v(int x) { " + CLOBBER + "return x * 3 + 2; }\n")
    (tmp_path / "good.c").write_text("int leaf_v(int x) { return x * 3 + 2; }\n")
    r = run(PATCHGEN, "--target", ipa.exe, "--map", tmp_path / "map", "--source", tmp_path / "bad.c",
            "--out", tmp_path / "bad.bin", check=REFUSED)
    assert "refused [ipa-ra]: 'leaf': the replacement may write rsi" in r.err, r.err
    assert "'caller' keeps a value in rsi across its call" in r.err and not (tmp_path / "bad.bin").exists()
    # through mid, whose own callers now see rsi written too
    assert "'top' keeps a value in rsi across its call at 0x" in r.err and " to mid (GCC's -fipa-ra)" in r.err
    run(PATCHGEN, "--target", ipa.exe, "--map", tmp_path / "map", "--source", tmp_path / "good.c",
        "--out", tmp_path / "good.bin")


def test_ipa_ra_in_the_diff_mode_replaces_the_caller(ipa):
    """The same change as a patch: caller, compiled against the new leaf, changes too and is replaced."""
    r, out = ipa.diff(ipa.patch("ipa", {"r.c": R_C.replace("{ return (x", "{ " + CLOBBER + "return (x")}))
    assert replaced(out) == ["caller", "leaf", "top"], r.err  # mid holds nothing across its call: same code


def test_file_prefix_map_of_debian_builds(tmp_path):
    """dpkg-buildflags add -ffile-prefix-map=SRCDIR=. (the binary's CUs are
    "./a.c"): the two compiles map their own copy of the tree the same way,
    so the unit is found in the binary and __FILE__ stays what it was."""
    src = tmp_path / "proj" / "src"
    flags = ["-O2", "-g", f"-ffile-prefix-map={src}=.", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2"]
    files = {"a.c": "#include <assert.h>\n#include <stdio.h>\n#include <stdlib.h>\n"
                    "int f(int x) { char b[32]; snprintf(b, sizeof b, \"%d\", x * 3); assert(x != 7); return atoi(b); }\n",
             "main.c": "#include <stdlib.h>\nint f(int);\nint main(int c, char **v) { return f(c > 1 ? atoi(v[1]) : 1); }\n"}
    proj = Project(tmp_path / "proj", files, cflags=flags)
    dirs = [ln for ln in run("readelf", "--debug-dump=info", proj.exe).stdout.splitlines() if "DW_AT_comp_dir" in ln]
    assert dirs and all(ln.endswith(": .") for ln in dirs), dirs
    fix = proj.patch("fix", {"a.c": files["a.c"].replace("x * 3", "x * 4")})
    r, payload = proj.diff(fix)
    assert replaced(payload) == ["f"], r.err


def test_refused_unit(proj):
    """A patch that removes a compiled unit, or adds a .c the compile database does not build."""
    for name, changes, says in (("gone", {"b.c": None}, "b.c: the patch removes a compiled unit"),
                                ("added", {"new.c": "int z(void) { return 1; }\n"},
                                 "new.c: the patch adds a source file that the compile database does not build")):
        r, out = proj.diff(proj.patch(f"unit-{name}", changes), out=proj.d / f"unit-{name}.payload", check=REFUSED)
        assert "refused [unit]: " + says in r.err and not out.exists(), r.err


def test_refused_clone_whose_caller_is_gone(proj):
    """helper.constprop.0 changes and g, which calls it in the binary, is renamed away by the patch:
    nothing would replace the old g's call of the old clone."""
    changes = {"a.c": A_C.replace("a * b +", "a * b + 1 +").replace("int g(int x)", "int g2(int x)")}
    r, out = proj.diff(proj.patch("clone-gone", changes), out=proj.d / "clone-gone.payload", check=REFUSED)
    assert "refused [clone]: a.c: 'g' calls the changed clone 'helper.constprop.0' but is gone" in r.err, r.err
    assert not out.exists()


K_C = """int sq(int x) { return x * x + 1; }
__attribute__((noinline, noclone)) static int twice(int a) { return (a * 2 + 1) ^ (a >> 3) ^ (a << 4); }
__attribute__((noinline, noclone)) static int twicf(int a) { return (a * 3 + 1) ^ (a >> 3) ^ (a << 4); }
int hold(int x) { return sq(x + 1) + 3 + twice(x) + twicf(x); }
"""
K_MAIN = "int hold(int);\nint main(int argc, char **argv) { (void)argv; return hold(argc); }\n"


@pytest.fixture
def kproj(tmp_path):
    return Project(tmp_path, {"k.c": K_C, "main.c": K_MAIN})


def test_refused_inlined_copy_outside_any_function(kproj):
    """sq is inlined into hold; a binary whose symbol table lacks hold (objcopy --strip-symbol)
    has a copy of sq that no redirection reaches: refused.  With hold named, both are replaced."""
    patch = kproj.patch("sq", {"k.c": K_C.replace("x * x + 1", "x * x + 2")})
    r, out = kproj.diff(patch)
    assert replaced(out) == ["hold", "sq"] and "1 inlined copy covered (in hold)" in r.err, r.err
    run("objcopy", "--strip-symbol=hold", kproj.exe)
    r, out = kproj.diff(patch, out=kproj.d / "inl.payload", check=REFUSED)
    assert "refused [inlined]: k.c: 'sq' is inlined at 0x" in r.err and "in no function of its symbol table" in r.err
    assert not out.exists()


def test_refused_ambiguous_static(kproj):
    """Two static functions of k.c both named twice in the binary's symbol table (objcopy
    --redefine-sym), both inside the unit's DWARF ranges: which one to redirect is unknown."""
    patch = kproj.patch("twice", {"k.c": K_C.replace("a * 2 + 1", "a * 2 + 5")})
    r, out = kproj.diff(patch)
    assert replaced(out) == ["twice"], r.err
    run("objcopy", "--redefine-sym", "twicf=twice", kproj.exe)
    r, out = kproj.diff(patch, out=kproj.d / "amb.payload", check=REFUSED)
    assert "refused [ambiguous]: k.c: 'twice' names several functions of this unit in " in r.err, r.err
    assert not out.exists()


def test_json_says_how_each_function_is_reached(kproj):
    """diff --json: sq is redirected at its entry and its one inlined copy is covered by
    replacing hold, which carries sq's new code; the payload records the count."""
    r, doc = kproj.diff_json(kproj.patch("sqj", {"k.c": K_C.replace("x * x + 1", "x * x + 2")}))
    fns = {f["name"]: f for f in doc["functions"]}
    assert sorted(fns) == ["hold", "sq"] and doc["mode"] == "diff" and doc["payload"], doc
    assert fns["sq"]["inlined"] == {"covered": 1, "covered_in": ["hold"], "not_covered": 0, "not_covered_in": []}
    assert fns["hold"]["carries_inlined"] == ["sq"] and fns["hold"]["inlined"]["covered"] == 0
    assert fns["sq"]["replacement"] is None and fns["sq"]["redirect"] in ("prologue", "patchable-direct")
    assert doc["symbols"] == {"from": "symtab", "debug_file": None, "debug_file_found": False}
    assert inlined_counts(doc["payload"]) == {"sq": (1, 0), "hold": (0, 0)}


def test_json_of_a_clone_and_of_a_refusal(proj):
    r, doc = proj.diff_json(proj.patch("clonej", {"a.c": A_C.replace("a * b +", "a * b + 1 +")}))
    assert [s["name"] for s in doc["not_redirected"]] == ["helper.constprop.0"], doc
    reasons = {f["name"]: f["reason"] for f in doc["functions"]}
    assert sorted(reasons) == ["f", "g"] and "calls the changed clone helper.constprop.0" in reasons.values(), reasons
    r, doc = proj.diff_json(proj.patch("refj", {"b.c": None}), out=proj.d / "refj.payload", check=REFUSED)
    assert doc["refusals"] == [{"class": "unit", "message": "b.c: the patch removes a compiled unit; ship a baseline"}]
    assert doc["error"]["kind"] == "refused" and "no payload written" in doc["error"]["message"]
    assert doc["payload"] is None and doc["functions"] == []


def test_json_usage_error():
    r = run(PATCHGEN, "diff", "--json", "--binary", "x", check=USAGE)
    doc = pg_json(r)
    assert doc["error"] == {"exit": 2, "kind": "usage", "message": "--source DIR is required"}


def test_hand_written_inlined_copy_not_replaced_is_said(kproj, tmp_path):
    """Hand-written mode, sq mapped but hold (where sq is inlined) not: a warning naming hold,
    the summary says the copy is NOT replaced, the payload records it; mapping hold too covers it."""
    (tmp_path / "fix.c").write_text("int sq_v(int x) { return x * x + 2; }\n"
                                    "int hold_v(int x) { return sq_v(x + 1) + 3; }\n")
    (tmp_path / "map").write_text("sq=sq_v\n")
    r = run(PATCHGEN, "--target", kproj.exe, "--map", tmp_path / "map", "--source", tmp_path / "fix.c",
            "--out", tmp_path / "one.bin", "--json")
    doc = pg_json(r)
    assert "warning: 'sq' is also inlined into hold (1 copy): this payload does not replace it" in r.err, r.err
    assert "1 inlined copy NOT replaced (in hold: those callers keep the old code)" in r.err
    assert doc["mode"] == "map" and doc["functions"][0]["inlined"]["not_covered_in"] == ["hold"]
    assert any("also inlined into hold" in w for w in doc["warnings"])
    assert inlined_counts(tmp_path / "one.bin") == {"sq": (0, 1)}
    (tmp_path / "map").write_text("sq=sq_v\nhold=hold_v\n")
    r = run(PATCHGEN, "--target", kproj.exe, "--map", tmp_path / "map", "--source", tmp_path / "fix.c",
            "--out", tmp_path / "two.bin")
    assert "warning" not in r.err and "sq -> sq_v (" in r.err and "1 inlined copy covered (in hold)" in r.err, r.err
    assert inlined_counts(tmp_path / "two.bin") == {"sq": (1, 0), "hold": (0, 0)}


def test_hand_written_without_dwarf_says_inlining_is_unknown(tmp_path):
    p = Project(tmp_path, {"k.c": K_C, "main.c": K_MAIN}, cflags=["-O2"])
    (tmp_path / "fix.c").write_text("int sq_v(int x) { return x * x + 2; }\n")
    (tmp_path / "map").write_text("sq=sq_v\n")
    r = run(PATCHGEN, "--target", p.exe, "--map", tmp_path / "map", "--source", tmp_path / "fix.c",
            "--out", tmp_path / "o.bin", "--json")
    assert "inlined copies unknown (no DWARF to tell)" in r.err, r.err
    assert pg_json(r)["functions"][0]["inlined"] is None


MAKEFILE = """CFLAGS = -O2 -g
prog: obj/k.o obj/main.o
\tgcc $^ -o $@ -Wl,--build-id
obj/%.o: %.c
\tgcc $(CFLAGS) -c $< -o $@
"""


def test_build_cmd_records_the_compile_database(tmp_path):
    """--build-cmd instead of --compile-db: the project's own Makefile runs under bear in a
    copy of the tree; the payload is the one the equivalent compile database gives, and the
    engineer's tree is left as it was."""
    p = Project(tmp_path, {"k.c": K_C, "main.c": K_MAIN, "Makefile": MAKEFILE}, own_build_id=False)
    patch = p.patch("sq", {"k.c": K_C.replace("x * x + 1", "x * x + 2")})
    before = {f: f.stat().st_mtime_ns for f in p.src.rglob("*")}
    r, doc = p.diff_json(patch, out=tmp_path / "cmd.payload", extra=("--build-cmd", "make -B"))
    assert "recording the build: make -B (in a copy of " in r.err, r.err
    assert sorted(f["name"] for f in doc["functions"]) == ["hold", "sq"], doc
    assert {f: f.stat().st_mtime_ns for f in p.src.rglob("*")} == before
    _, db_payload = p.diff(patch, out=tmp_path / "db.payload")
    assert (tmp_path / "cmd.payload").read_bytes() == db_payload.read_bytes()
    r = run(PATCHGEN, "diff", "--binary", p.exe, "--source", p.src, "--patch", patch, "--build-cmd", "true",
            "--out", tmp_path / "x.payload", check=REFUSED)
    assert "--build-cmd 'true' compiled nothing in a copy of " in r.err and "make -B" in r.err, r.err
    r = run(PATCHGEN, "diff", "--binary", p.exe, "--source", p.src, "--patch", patch, "--build-cmd", "make -B",
            "--compile-db", p.db, "--out", tmp_path / "x.payload", check=USAGE)
    assert "give exactly one of --compile-db FILE or --build-cmd CMD" in r.err
