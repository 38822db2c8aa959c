"""The public API re-exported from ``parley``: every name imports, and ``import parley`` stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import parley


def run_python(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_import_parley_is_light() -> None:
    out = run_python("import sys, json, parley\nprint(json.dumps(sorted(sys.modules)))")
    modules = json.loads(out)
    assert [m for m in modules if m.startswith("parley")] == ["parley"]
    heavy = {"torch", "transformers", "pydantic", "numpy", "litellm", "openai", "pyarrow"}
    assert not heavy & {m.split(".")[0] for m in modules}


def test_every_public_name_imports_in_a_fresh_interpreter() -> None:
    names = [n for n in parley.__all__ if n != "__version__"]
    code = (
        "import importlib, json, parley\n"
        f"names = {names!r}\n"
        "got = {n: getattr(parley, n).__module__ if hasattr(getattr(parley, n), '__module__') else '' for n in names}\n"
        "exec('from parley import ' + ', '.join(names))\n"
        "print(json.dumps(got))\n"
    )
    got = json.loads(run_python(code))
    assert sorted(got) == sorted(names)
    for name, module in got.items():
        assert module.startswith("parley."), (name, module)


def test_generation_side_names_do_not_load_torch() -> None:
    code = ("import sys, parley\n"
            "parley.load_config; parley.run_generation; parley.create_model; parley.run_protocol\n"
            "parley.TrajectoryStore; parley.load_problems; parley.evaluate; parley.run_experiment\n"
            "print('torch' in sys.modules)")
    assert run_python(code).strip() == "False"


def test_unknown_attribute_and_dir() -> None:
    try:
        parley.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no attribute 'no_such_name'" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
    assert {"train", "load_config", "run_experiment"} <= set(dir(parley))


def test_all_lists_exactly_the_exports() -> None:
    assert sorted(parley.__all__) == sorted(["__version__", *parley._EXPORTS])
