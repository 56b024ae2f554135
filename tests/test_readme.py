"""README.md's two commands and quickstart, and the walkthrough (docs/getting-started.md), run
exactly as written.

Each marked block (``<!-- walkthrough: ... -->``) is run or compared as a reader would use
it: the shell blocks in a second "terminal" next to ``bash examples/run.sh``, the Python
snippet with the venv's python, and the outputs the README quotes compared with what the
commands print. ``examples/run.sh`` runs in a private network and /tmp (tests/_support/
isolated.py), so 127.0.0.1:8787 and the default socket are the ones the README names.
"""

from __future__ import annotations

import re
import subprocess
import textwrap

import pytest

from tests._support.isolated import wait_for_text
from tests._support.readme import README, block, user_docs

ROOT = README.parent


def lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.strip().splitlines()]


def test_the_two_commands_are_what_ci_runs():
    commands = [line.split("#")[0].strip() for line in lines(block("commands"))]
    assert commands == ["bash examples/run.sh", "bash tests/run.sh"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash tests/run.sh" in ci


def test_run_command_serves_and_runs_the_demo_agent(example_host):
    output = example_host.log.read_text()
    assert "custom-api-sidecar listening on unix:///tmp/custom-api-sidecar.sock, 127.0.0.1:50051" in output
    assert "payment: 201" in output
    assert "typed error: UNKNOWN_OPERATION" in output


@pytest.mark.parametrize("label", ["excerpt examples/apis.yaml", "quickstart yaml"])
def test_the_api_excerpt_is_from_the_example_file(label):
    """Step 1 and the quickstart are "shortened": every line is in examples/apis.yaml, in the same order."""
    example = iter((ROOT / "examples" / "apis.yaml").read_text().splitlines())
    for line in lines(block(label)):
        assert any(candidate.rstrip() == line for candidate in example), f"not in examples/apis.yaml (in order): {line}"


def test_validate_prints_what_the_readme_says(example_host):
    result = example_host.host.run(block("shell validate"))
    assert result.returncode == 0, result.stderr
    assert lines(result.stdout) == lines(block("output validate"))


def test_a_broken_file_prints_the_line_the_readme_quotes(tmp_path):
    (tmp_path / "apis.yaml").write_text(
        textwrap.dedent("""
        apis:
          - name: crm
            connection: {base_url: "https://crm.example.com"}
            endpoints:
              - {name: get_ticket, method: FETCH, path: /tickets}
        """)
    )
    result = subprocess.run(
        [ROOT / ".venv" / "bin" / "custom-api-sidecar", "validate", "apis.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert lines(block("output validate-broken")) == lines(result.stderr)


@pytest.fixture(scope="module")
def step3_sidecar(example_host):
    """The second terminal: step 2's commands, then step 3's serve (which keeps serving)."""
    log = example_host.log.parent / "step3.log"
    with log.open("w") as out:
        proc = example_host.host.start(block("shell validate") + block("shell serve"), out)
    try:
        wait_for_text(log, "environment 'live'", timeout=60, proc=proc)
        yield log
    finally:
        proc.terminate()
        proc.wait(15)


def test_serve_prints_what_the_readme_says(step3_sidecar):
    output = lines(step3_sidecar.read_text())
    for line in lines(block("output serve")):
        assert line in output


@pytest.mark.parametrize("label", ["python agent", "quickstart python"])
def test_the_agent_snippet_runs_against_the_run_command(example_host, label):
    snippet = block(label)
    result = example_host.host.run(".venv/bin/python -", stdin=snippet)
    assert result.returncode == 0, result.stderr
    expected = re.search(r"# (.+)$", snippet.strip().splitlines()[-1])
    assert expected is not None
    assert result.stdout.strip() == expected[1]  # the printed line is what the last comment says
    assert "payment failed" not in result.stderr  # no error logged for the 201


def test_the_agent_snippet_runs_against_the_step3_sidecar(example_host, step3_sidecar):
    snippet = block("python agent").replace("# conv = connect(", "conv = connect(")
    result = example_host.host.run(".venv/bin/python -", stdin=snippet)
    assert result.returncode == 0, result.stderr
    assert (
        "stripe.create_payment POST http://127.0.0.1:8787/payments/payments?expand=customer -> 201"
        in step3_sidecar.read_text()
    )


def test_the_access_log_line_looks_like_the_readme(example_host):
    quoted = lines(block("log"))[0]
    pattern = re.escape(quoted).replace(r"3\.0ms", r"\d+\.\dms") + r"( trace=[0-9a-f]{32})?$"
    log = wait_for_text(example_host.log, "salesforce.get_contact GET", timeout=10)
    assert any(re.search(pattern, line) for line in log.splitlines()), pattern


def test_the_docs_name_no_default_socket_but_the_real_one():
    from custom_api_client import DEFAULT_TARGET

    for page in user_docs():
        sockets = set(re.findall(r"unix:///tmp/[a-z-]+\.sock", page.read_text()))
        assert sockets <= {DEFAULT_TARGET, "unix:///tmp/my-sidecar.sock"}, (page, sockets)
    assert DEFAULT_TARGET in README.read_text()
    assert DEFAULT_TARGET in (ROOT / "docs" / "getting-started.md").read_text()
