"""--param KEY=VALUE: read by a test library with param("KEY"), locally and on
a cluster of a real broker and two agents, from the command line and from
--config, against the demo target's /echo; bad values are usage errors (exit
2) before anything runs, and a key the run was not given is a clear error
naming it."""
import pytest

from loads_procs import CASES_LIB, run_runner

TEST = f"{CASES_LIB}:Params.test_echo"


def where(request, mode):
    """Extra runner arguments for MODE, and how many times the plan runs."""
    if mode == "local":
        return [], 1
    c = request.getfixturevalue("cluster2")
    c.broker.wait_agents(2)  # idle again after the previous run
    return ["--agents", "2", "--broker", c.broker.frontend], 2


@pytest.mark.parametrize("mode", ["local", "cluster"])
def test_params_reach_every_user(request, srv, mode):
    extra, copies = where(request, mode)
    srv.reset()
    # The value keeps everything after the first '=' (spaces, '=', UTF-8).
    payload = "name=Zoë & co = 3"
    r = run_runner(TEST, "--server-url", srv.url, "-u", "3", "-c", "4", "--param", f"payload={payload}",
                   "--param", "label=blue", *extra, "--output", "json", timeout=60)
    assert r.rc == 0, r.stderr
    t = r.json["total"]
    hits = 12 * copies
    assert t["hits"] == hits and t["successes"] == hits
    # Every request was named after the label param, and the echo matched the payload.
    assert t["names"] == {"echo blue": t["names"]["echo blue"]}
    assert t["names"]["echo blue"]["count"] == hits
    assert srv.stats()["http_requests"] == hits
    # Without label, param("label", "default") falls back.
    extra, _ = where(request, mode)
    r = run_runner(TEST, "--server-url", srv.url, "-u", "1", "-c", "2", "--param", "payload=x", *extra,
                   "--output", "json", timeout=60)
    assert r.rc == 0, r.stderr
    assert list(r.json["total"]["names"]) == ["echo default"]


@pytest.mark.parametrize("mode", ["local", "cluster"])
def test_a_missing_param_is_an_error_naming_it(request, srv, mode):
    extra, copies = where(request, mode)
    r = run_runner(TEST, "--server-url", srv.url, "-u", "2", "-c", "2", *extra, timeout=60)
    assert r.rc == 1
    assert "exception: std::invalid_argument: this run has no --param payload=VALUE" in r.stdout
    assert f"Errors: {4 * copies}" in r.stdout


@pytest.mark.parametrize("kind", ["ini", "toml"])
def test_params_from_a_config_file(srv, tmp_path, kind):
    cfg = tmp_path / f"run.{kind}"
    if kind == "ini":
        cfg.write_text('hits = 2\nparam = "payload=from the file" "label=cfg"\n')
    else:
        cfg.write_text('hits = 2\nparam = ["payload=from the file", "label=cfg"]\n')
    r = run_runner(TEST, "--server-url", srv.url, "--config", cfg, "--output", "json")
    assert r.rc == 0, r.stderr
    assert r.json["total"]["names"]["echo cfg"]["count"] == 2
    # Flags replace the file's list, as for --threshold.
    r = run_runner(TEST, "--server-url", srv.url, "--config", cfg, "--param", "payload=flag", "--output", "json")
    assert r.rc == 0, r.stderr
    assert list(r.json["total"]["names"]) == ["echo default"]
    cfg.write_text(cfg.read_text().replace("label=cfg", "label cfg"))
    r = run_runner(TEST, "--server-url", srv.url, "--config", cfg)
    assert r.rc == 2 and '--param "label cfg": expected KEY=VALUE' in r.stderr


@pytest.mark.parametrize("args,message", [
    (["--param", "novalue"], '--param "novalue": expected KEY=VALUE'),
    (["--param", "=x"], '--param "=x": the key is empty'),
    (["--param", "a b=1"], "the key may hold only letters, digits"),
    (["--param", "a=1", "--param", "a=2"], "--param a is given twice"),
])
def test_bad_params_are_usage_errors(srv, args, message):
    srv.reset()
    r = run_runner(TEST, "--server-url", srv.url, *args)
    assert r.rc == 2, r.stdout
    assert message in r.stderr
    assert "Hits:" not in r.stdout
    assert srv.stats()["http_requests"] == 0


def test_a_url_test_takes_no_params(srv):
    r = run_runner(srv.url + "/", "--param", "a=1")
    assert r.rc == 2 and "--param is read by test libraries" in r.stderr
