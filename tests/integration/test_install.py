"""A test library built outside the source tree, against an installed loads.

`cmake --install` puts the binaries, the public test-case API (loads.hpp and
the headers it includes, nothing else) and the CMake package (loadsConfig,
loadsConfigVersion, loads_add_test_library) under a prefix. A project of its
own, in a temporary directory, finds it with `find_package(loads 0.2)`,
builds examples/website's source as its library, and the installed
loads-runner runs it against the demo target: the hits equal the target's
count. A version the package is not compatible with is refused by CMake.
"""
import shutil
import subprocess
from pathlib import Path

from loads_procs import BUILD, DemoTarget

SOURCE = Path(__file__).resolve().parents[2]
PUBLIC_HEADERS = {"loads.hpp", "data.hpp", "error_kind.hpp", "metric_kind.hpp"}


def run(cmd, timeout=300, check=True):
    p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout)
    if check:
        assert p.returncode == 0, f"{cmd}\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}"
    return p


def project(path, version):
    path.mkdir()
    shutil.copy(SOURCE / "examples/website/website.cpp", path / "website.cpp")
    (path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.22)\n"
        "project(my_tests CXX)\n"
        f"find_package(loads {version} REQUIRED)\n"
        "loads_add_test_library(website SOURCES website.cpp)\n")
    return path


def test_installed_package_builds_and_runs_a_test_library(tmp_path):
    prefix = tmp_path / "prefix"
    run(["cmake", "--install", BUILD, "--prefix", prefix])

    headers = {p.name for p in (prefix / "include/loads").iterdir()}
    assert headers == PUBLIC_HEADERS, headers  # no engine.hpp, log.hpp (spdlog), proto
    cmake_dir = prefix / "lib/cmake/loads"
    assert (cmake_dir / "loadsConfigVersion.cmake").is_file()

    src = project(tmp_path / "mine", "0.2")
    build = tmp_path / "mine-build"
    run(["cmake", "-S", src, "-B", build, f"-DCMAKE_PREFIX_PATH={prefix}", "-DCMAKE_BUILD_TYPE=Release"])
    run(["cmake", "--build", build, "-j2"])
    lib = build / "libwebsite.so"
    assert lib.is_file()

    target = DemoTarget()
    try:
        r = run([prefix / "bin/loads-runner", f"{lib}:WebSite.test_home", "--server-url", target.url,
                 "-u", 3, "-c", 4, "--output", "json"], timeout=60)
        import json
        total = json.loads(r.stdout)["total"]
        assert total["hits"] == 12 and total["successes"] == 12, total
        assert target.stats()["http_requests"] == 12
    finally:
        target.kill()

    # A version this package does not satisfy is refused at configure time.
    for wanted in ("0.3", "0.1", "1.0"):
        other = project(tmp_path / f"wants-{wanted}", wanted)
        p = run(["cmake", "-S", other, "-B", tmp_path / f"wants-{wanted}-build",
                 f"-DCMAKE_PREFIX_PATH={prefix}"], check=False)
        assert p.returncode != 0, wanted
        assert "0.2.0" in p.stderr and "not" in p.stderr.lower(), p.stderr[-2000:]
