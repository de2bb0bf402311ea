"""The windows_evtsys_policy role: syntax, argument-spec validation, early refusals.

These run the real ansible-playbook on the controller.  Everything asserted here happens
before the role talks to a Windows host (argument validation, input checks, rendering the
evtsys settings), which is what can be verified without Windows.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import jinja2
import pytest
import yaml

from tests.support import evtsys_model
from tests.support.pe_files import pe_header

ROOT = Path(__file__).resolve().parents[3]
ROLE = ROOT / "roles" / "windows_evtsys_policy"
PLAYBOOK = Path(__file__).parent / "playbooks" / "windows_evtsys_policy.yml"
SHA = "a" * 64


def ansible(tool, *args, cwd=None):
    env = dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="false", ANSIBLE_PYTHON_INTERPRETER=sys.executable)
    executable = Path(sys.executable).with_name(tool)
    return subprocess.run([str(executable), *args], capture_output=True, text=True, env=env,
                          check=False, cwd=cwd)


def run_role(tmp_path, role_vars, check=False):
    """Apply the role to localhost; it must stop before any Windows module runs."""
    play = [{"name": "Role under test", "hosts": "localhost", "connection": "local",
             "gather_facts": False,
             "roles": [{"role": "whotouched.server_audit.windows_evtsys_policy", "vars": role_vars}]}]
    playbook = tmp_path / "play.yml"
    playbook.write_text(yaml.safe_dump(play), encoding="utf-8")
    proc = ansible("ansible-playbook", "-i", "localhost,", str(playbook), *(["--check"] if check else []))
    return proc.returncode, proc.stdout + proc.stderr


def validate(tmp_path, provided):
    """Validate variables against the role's meta/argument_specs.yml with Ansible's own validator."""
    spec = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))
    play = [{"name": "Validate", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "tasks": [{"name": "Validate against the role spec",
                        "ansible.builtin.validate_argument_spec": {
                            "argument_spec": spec["argument_specs"]["main"]["options"],
                            "provided_arguments": provided}}]}]
    playbook = tmp_path / "validate.yml"
    playbook.write_text(yaml.safe_dump(play), encoding="utf-8")
    proc = ansible("ansible-playbook", "-i", "localhost,", str(playbook))
    return proc.returncode, proc.stdout + proc.stderr


def test_documented_playbook_passes_syntax_check():
    proc = ansible("ansible-playbook", "--syntax-check", "-i", "windows,", str(PLAYBOOK))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_defaults_match_the_argument_spec_defaults(tmp_path):
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    options = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))[
        "argument_specs"]["main"]["options"]
    assert set(defaults) == set(options)
    for name, value in defaults.items():
        assert options[name].get("default") == value, name
    rc, out = validate(tmp_path, defaults)
    assert rc == 0, out


@pytest.mark.parametrize("provided, message", [
    ({"windows_evtsys_policy_state": "gone"}, "windows_evtsys_policy_state must be one of"),
    ({"windows_evtsys_policy_facility": "local9"}, "windows_evtsys_policy_facility must be one of"),
    ({"windows_evtsys_policy_audit_mode": "merge"}, "windows_evtsys_policy_audit_mode must be one of"),
    ({"windows_evtsys_policy_subcategories": [{"success": True}]}, "missing required arguments: name"),
    ({"windows_evtsys_policy_extra_queries": [{"channel": "System"}]}, "missing required arguments: select"),
    ({"windows_evtsys_policy_log_port": "syslog"}, "windows_evtsys_policy_log_port"),
])
def test_argument_spec_refuses_bad_values(tmp_path, provided, message):
    rc, out = validate(tmp_path, provided)
    assert rc != 0 and message in out, out


def test_role_run_stops_at_argument_validation(tmp_path):
    rc, out = run_role(tmp_path, {"windows_evtsys_policy_facility": "local9"})
    assert rc != 0
    assert "Validating arguments against arg spec" in out
    assert "windows_evtsys_policy_facility must be one of" in out


def test_role_refuses_an_unpinned_binary(tmp_path):
    rc, out = run_role(tmp_path, {"windows_evtsys_policy_log_hosts": ["logs.example.net"],
                                  "windows_evtsys_policy_binary_src": "https://example.net/evtsys.exe"})
    assert rc != 0 and "an unpinned evtsys binary is never installed" in out, out
    assert "win_" not in out.split("Check the evtsys inputs")[1].split("fatal")[0]


def test_role_refuses_a_bad_subcategory_before_touching_the_host(tmp_path):
    rc, out = run_role(tmp_path, {
        "windows_evtsys_policy_log_hosts": ["logs.example.net"],
        "windows_evtsys_policy_binary_src": "evtsys.exe", "windows_evtsys_policy_binary_sha256": SHA,
        "windows_evtsys_policy_subcategories": [{"name": "Kerberos Ticket Things", "success": True}]})
    assert rc != 0, out
    assert "evtsys_cfg: unknown audit subcategory 'Kerberos Ticket Things'" in out, out
    assert "SCENoApplyLegacyAuditPolicy" not in out


def pe_stand_in(machine):
    """A stand-in for evtsys.exe built for ``machine``: a PE header, then filler."""
    return pe_header(machine) + b"stand-in for evtsys.exe " * 100


@pytest.fixture
def evtsys_binary(tmp_path):
    """A 64-bit stand-in for evtsys.exe on the controller, with its SHA-256."""
    binary = tmp_path / "evtsys.exe"
    binary.write_bytes(pe_stand_in(0x8664))
    return binary, hashlib.sha256(binary.read_bytes()).hexdigest()


def first_windows_task_reached(out):
    """True when the role got past every controller-side check to its first host change."""
    return "TASK [whotouched.server_audit.windows_evtsys_policy : Let subcategory settings override" in out


def test_role_renders_settings_and_accepts_the_pinned_binary(tmp_path, evtsys_binary):
    binary, sha = evtsys_binary
    rc, out = run_role(tmp_path, {
        "windows_evtsys_policy_log_hosts": ["logs.example.net", "10.1.2.3"],
        "windows_evtsys_policy_binary_src": str(binary), "windows_evtsys_policy_binary_sha256": sha.upper()})
    render = out.split("Render the evtsys settings")[1].split("TASK [")[0]
    assert "ok: [localhost]" in render, out
    assert first_windows_task_reached(out), out


def test_role_refuses_a_controller_binary_with_another_hash(tmp_path, evtsys_binary):
    binary, sha = evtsys_binary
    rc, out = run_role(tmp_path, {
        "windows_evtsys_policy_log_hosts": ["logs.example.net"],
        "windows_evtsys_policy_binary_src": str(binary), "windows_evtsys_policy_binary_sha256": SHA})
    assert rc != 0 and "has a SHA-256 other than the pinned" in out, out
    assert not first_windows_task_reached(out)


@pytest.fixture
def loopback_server(tmp_path, evtsys_binary):
    """Serve the stand-in binary over HTTP on 127.0.0.1 only."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(evtsys_binary[0].parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "http://127.0.0.1:%d/evtsys.exe" % server.server_address[1]
    server.shutdown()


@pytest.mark.parametrize("pin_matches, check", [(True, False), (True, True), (False, False)])
def test_role_downloads_only_the_pinned_binary(tmp_path, evtsys_binary, loopback_server, pin_matches, check):
    """Check mode downloads too: win_copy needs the file to compare with the host's copy."""
    binary, sha = evtsys_binary
    cache = tmp_path / "cache"
    pin = sha if pin_matches else SHA
    rc, out = run_role(tmp_path, {
        "windows_evtsys_policy_log_hosts": ["logs.example.net"],
        "windows_evtsys_policy_binary_src": loopback_server, "windows_evtsys_policy_binary_sha256": pin,
        "windows_evtsys_policy_download_dir": str(cache)}, check=check)
    kept = cache / ("evtsys-%s.exe" % pin)
    if pin_matches:
        assert first_windows_task_reached(out), out
        assert kept.read_bytes() == binary.read_bytes()
    else:
        assert rc != 0 and "checksum" in out.lower(), out
        assert not first_windows_task_reached(out)
        assert not kept.exists()


def role_var_files():
    variables = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text(encoding="utf-8"))
    variables.update(yaml.safe_load((ROLE / "vars" / "main.yml").read_text(encoding="utf-8")))
    return variables


def rendered(value, **overrides):
    """A task parameter as the role renders it from its defaults, its vars and ``overrides``."""
    return jinja2.Template(value).render({**role_var_files(), **overrides})


def task_named(file_name, start):
    tasks = yaml.safe_load((ROLE / "tasks" / file_name).read_text(encoding="utf-8"))
    return next(task for task in tasks if task["name"].startswith(start))


@pytest.mark.parametrize("install_dir", ["C:\\Windows\\System32", "D:\\Tools\\evtsys"])
def test_the_cfg_goes_where_the_evtsys_service_reads_it(install_dir):
    """evtsys opens the relative evtsys.cfg and never changes directory: a 64-bit service reads
    it in System32 whatever folder evtsys.exe is in."""
    task = task_named("present.yml", "Write evtsys.cfg")
    dest = rendered(task["ansible.windows.win_copy"]["dest"],
                    windows_evtsys_policy_install_dir=install_dir)
    assert dest == evtsys_model.cfg_path(process_bits=64)


def test_absent_removes_what_a_32_bit_evtsys_kept_behind_the_redirectors():
    keys = [rendered(key) for key in task_named("absent.yml", "Remove the evtsys settings")["loop"]]
    paths = [rendered(path) for path in task_named("absent.yml", "Remove evtsys.exe")["loop"]]
    for bits in (32, 64):
        assert evtsys_model.registry_key(bits).rsplit("\\", 1)[0] in keys
        assert evtsys_model.cfg_path(bits) in paths


def test_the_service_the_role_manages_is_the_one_evtsys_registers():
    assert role_var_files()["__windows_evtsys_policy_service_name"] == evtsys_model.SERVICE_NAME
    for file_name in ("present.yml", "absent.yml"):
        text = (ROLE / "tasks" / file_name).read_text(encoding="utf-8")
        assert "windows_evtsys_policy_service_name" not in text.replace("__windows_evtsys_policy_service_name", "")


def ready_vars(binary, sha):
    return {"windows_evtsys_policy_log_hosts": ["logs.example.net"],
            "windows_evtsys_policy_binary_src": str(binary), "windows_evtsys_policy_binary_sha256": sha}


@pytest.mark.parametrize("removed, reason", [
    ({"windows_evtsys_policy_log_level": 2}, "Security audit successes have level 0"),
    ({"windows_evtsys_policy_tcp": True}, "without a line end or octet count"),
    ({"windows_evtsys_policy_service_name": "Syslog"}, "whatever name it is installed under"),
])
def test_role_refuses_settings_evtsys_cannot_honour(tmp_path, evtsys_binary, removed, reason):
    rc, out = run_role(tmp_path, {**ready_vars(*evtsys_binary), **removed})
    assert rc != 0 and "is no longer a setting: " in out and reason in out, out
    assert not first_windows_task_reached(out)


def test_role_takes_the_one_value_of_each_removed_setting_that_works(tmp_path, evtsys_binary):
    rc, out = run_role(tmp_path, {**ready_vars(*evtsys_binary), "windows_evtsys_policy_log_level": 0,
                                  "windows_evtsys_policy_tcp": False,
                                  "windows_evtsys_policy_service_name": "EvtSys"})
    assert first_windows_task_reached(out), out


@pytest.mark.parametrize("machine, name", [(0x014C, "x86"), (0xAA64, "arm64")])
def test_role_refuses_an_evtsys_that_is_not_64_bit(tmp_path, machine, name):
    binary = tmp_path / "evtsys.exe"
    binary.write_bytes(pe_stand_in(machine))
    rc, out = run_role(tmp_path, ready_vars(binary, hashlib.sha256(binary.read_bytes()).hexdigest()))
    assert rc != 0 and "is built for %s, not x64" % name in out and "SysWOW64" in out, out
    assert not first_windows_task_reached(out)


def test_role_refuses_a_file_that_is_no_windows_program(tmp_path):
    binary = tmp_path / "evtsys.exe"
    binary.write_bytes(b"#!/bin/sh\necho not evtsys\n")
    rc, out = run_role(tmp_path, ready_vars(binary, hashlib.sha256(binary.read_bytes()).hexdigest()))
    assert rc != 0 and "is not evtsys.exe: it has no MZ header" in out, out
    assert not first_windows_task_reached(out)


def test_role_warns_that_a_build_it_cannot_name_may_cut_messages_at_1024_bytes(tmp_path, evtsys_binary):
    rc, out = run_role(tmp_path, ready_vars(*evtsys_binary))
    warning = out.split("Warn when the evtsys build may cut messages")[1].split("TASK [")[0]
    assert "no published evtsys 4.5.1 build" in warning and "1024 bytes" in warning, out
    assert first_windows_task_reached(out), out
