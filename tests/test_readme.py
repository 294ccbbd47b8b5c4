"""The README's two set-up commands are the ones CI runs and the ones that exist."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]


def readme_commands():
    return re.findall(r"```bash\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_starts_with_exactly_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    head = text.split("---")[0]
    assert len(re.findall(r"```bash", head)) == 2
    run_main, run_tests = readme_commands()[:2]
    assert run_main.endswith("pip install . && parareal ode")
    assert run_tests.endswith('pip install ".[nn,test,docs]" && python -m pytest')


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert readme_commands()[1] in ci.splitlines()


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
    assert len(blocks) >= 2
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme_example"})


def test_readme_links_exist():
    """Relative links (the three guides, the benchmark tables) point at files of the checkout."""
    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)
    assert {"docs/users/teaching.md", "docs/users/verification.md", "docs/users/training.md"} <= set(links)
    assert "docs/benchmarks.md" in links
    for link in links:
        assert (ROOT / link).exists(), link


def test_readme_benchmark_commands_leave_the_committed_results_alone():
    """A README command that names a benchmark script writes into benchmarks/results/ only by --update-results."""
    commands = [line for line in (ROOT / "README.md").read_text().splitlines() if "python benchmarks/" in line]
    assert commands
    for line in commands:
        code = line.split("#")[0]
        assert "--update-results" in code or "benchmarks/results" not in code, line


def test_readme_quick_subset_is_a_declared_marker():
    """The quick subset the README documents selects by a marker pyproject.toml declares."""
    text = (ROOT / "README.md").read_text()
    assert 'python -m pytest -m "not slow"' in text
    assert '"slow:' in (ROOT / "pyproject.toml").read_text()
