"""A hotpatch for a shared library: every process mapping it is found by the
library's build-id (wherever it is loaded, among however many mapped files)
and its functions are replaced in memory."""
import json

from hpmtest import run
from workspace import HERE, VARIANTS, Target


def build(ws):
    d = ws.d / "lib"
    if not (d / "calc-lib").exists():
        d.mkdir(exist_ok=True)
        flags = ["-O2", "-g", "-Wl,--build-id", *VARIANTS["pad"]]
        run("gcc", *flags, "-shared", "-fPIC", HERE / "src" / "calcfn.c", "-o", d / "libcalc.so")
        run("gcc", *flags, "-pthread", "-DCALC_FROM_LIB", HERE / "src" / "calc.c", "-o", d / "calc-lib",
             "-L", d, "-lcalc", f"-Wl,-rpath,{d}")
        many = d / "many"
        many.mkdir()
        for i in range(150):
            (many / f"f{i:03d}").write_bytes(bytes([i]) * 4096)
    return d


def test_library_functions_replaced_in_every_process(ws, state, monkeypatch):
    d = build(ws)
    ws.patchgen(d / "libcalc.so", 3, d / "p.bin")
    h = ws.hotpatch([d / "p.bin"], 1, name="h1-lib.hpm")
    plain = Target(d / "calc-lib", threads=2)
    # 150 more mapped files before the library in /proc/PID/maps
    monkeypatch.setenv("CALC_MAP_FILES", str(d / "many"))
    crowded = Target(d / "calc-lib", threads=2)
    monkeypatch.delenv("CALC_MAP_FILES")
    try:
        maps = open(f"/proc/{crowded.pid}/maps").read()
        assert maps.count(str(d / "many")) >= 150
        assert plain.version() == crowded.version() == (0, 0)
        r = ws.hpm(state, "apply", "--pid", plain.pid, "--pid", crowded.pid, h)
        assert "2 process(es) patched" in r.stdout, r.stdout
        assert plain.version() == crowded.version() == (3, 3)
        lst = json.loads(ws.hpm(state, "list", "--json").stdout)["processes"]
        mine = {e["pid"]: e for e in lst if e["pid"] in (plain.pid, crowded.pid)}
        assert set(mine) == {plain.pid, crowded.pid}
        assert all(e["sequence"] == 1 and str(d / "libcalc.so") in json.dumps(e) for e in mine.values()), mine
        ws.hpm(state, "revert", "--all", "--pid", plain.pid, "--pid", crowded.pid)
        assert plain.version() == crowded.version() == (0, 0)
        for t in (plain, crowded):
            s = t.assert_healthy()
            assert s["v3"] > 0
    finally:
        assert plain.close() == 0
        assert crowded.close() == 0
