"""Plugins (issue 22): a study's ``plugins:`` and installed entry points are imported before validation, register
through ``augmix_lab.api``, put their source digests into every trial's key, and fail with exit 2 naming the plugin,
the file and the line (or both places of a name registered twice, or the path as resolved)."""

from __future__ import annotations

import inspect
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

from augmix_lab import api
from augmix_lab.cli.main import main
from augmix_lab.errors import UserError
from augmix_lab.plugins import ensure_plugins, load_plugins, loaded_plugins, unload_plugins
from augmix_lab.study import expand_study, read_study
from augmix_lab.study.manifest import read_manifest, verdict, write_manifest

METHOD = '''
import torch
from pydantic import Field
from augmix_lab import api


class P(api.MethodParams):
    strength: float = Field(0.5, ge=0, le=1, description="a number in [0, 1]")


@api.register_method("{name}")
class Darken(api.Method):
    Params = P
    produces_views = True

    def view(self, images, generator):
        x = images.float().div(255) * (1 - self.params["strength"])
        return api.normalize(api.to_uint8(x), self.ctx.mean, self.ctx.std)
'''

STUDY = """\
name: plug
plugins: {plugins}
base: {{dataset: {{name: shapes, options: {{n_train: 64, n_test: 32}}}}, epochs: 1}}
variants:
  - {{name: mine, method: {name}, method_params: {{{name}: {{strength: 0.25}}}}}}
  - {{name: std, method: standard}}
"""


@pytest.fixture
def forget() -> Iterator[None]:
    """Whatever a test's plugins register is forgotten afterwards (the registries are global)."""
    before = set(loaded_plugins())
    yield
    unload_plugins([p for m, p in loaded_plugins().items() if m not in before])


def write_study(tmp_path: Path, name: str = "darken_tp", plugins: str = "[darken_tp.py]") -> Path:
    (tmp_path / "darken_tp.py").write_text(METHOD.format(name=name))
    path = tmp_path / "study.yaml"
    path.write_text(STUDY.format(plugins=plugins, name=name))
    return path


def test_plugin_names_are_validated_and_its_digest_keys_every_trial(tmp_path: Path, forget: None) -> None:
    path = write_study(tmp_path)
    trials = {t.variant: t for t in expand_study(read_study(path))}
    digest = trials["mine"].config.plugins["darken_tp"]
    assert trials["std"].config.plugins == {"darken_tp": digest}  # every trial of the study depends on its plugins
    assert trials["std"].config.training_dict()["plugins"] == {"darken_tp": digest}
    bad = path.read_text().replace("strength: 0.25", "strength: 2")
    path.write_text(bad)
    with pytest.raises(UserError, match=r"method_params.darken_tp.strength: got 2; allowed: a number in \[0, 1\]"):
        expand_study(read_study(path))


def test_editing_a_plugin_makes_its_trials_new_and_reverting_finds_them(tmp_path: Path, forget: None) -> None:
    path = write_study(tmp_path)
    study = read_study(path)
    trials = expand_study(study)
    write_manifest(tmp_path / "out", study, trials, {})
    original = (tmp_path / "darken_tp.py").read_text()
    (tmp_path / "darken_tp.py").write_text(original.replace("(1 - self.params", "(1.0 - self.params"))
    edited = read_study(path)  # the same process: the edited plugin replaces the old one's registrations
    v = verdict(read_manifest(tmp_path / "out"), expand_study(edited))
    assert len(v.new) == 2 and not v.reused
    assert "plugin code changed: darken_tp (" in v.summary(edited.hash)
    (tmp_path / "darken_tp.py").write_text(original)
    v = verdict(read_manifest(tmp_path / "out"), expand_study(read_study(path)))
    assert sorted(v.reused) == sorted(t.key for t in trials) and not v.plugins_changed


def test_package_folder_and_module_name_plugins(tmp_path: Path, forget: None, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = tmp_path / "plugs" / "tp_pkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import methods  # noqa: F401\n")
    (pkg / "methods.py").write_text(METHOD.format(name="darken_pkg"))
    study = tmp_path / "s.yaml"
    study.write_text(STUDY.format(plugins="[plugs/tp_pkg]", name="darken_pkg"))
    (mine,) = [t for t in expand_study(read_study(study)) if t.variant == "mine"]
    assert set(mine.config.plugins) == {"tp_pkg"}
    unload_plugins(read_study(study).plugins)
    monkeypatch.syspath_prepend(str(tmp_path / "plugs"))
    study.write_text(STUDY.format(plugins="[tp_pkg.methods]", name="darken_pkg"))
    (p,) = read_study(study).plugins
    assert (p.kind, p.module, p.path) == ("module", "tp_pkg.methods", str(pkg))  # hashed: its whole package


def test_installed_entry_point_plugins_are_loaded(tmp_path: Path, forget: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    (site / "tp_ep").mkdir(parents=True)
    (site / "tp_ep" / "__init__.py").write_text(METHOD.format(name="darken_ep"))
    dist = site / "tp_ep-1.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tp-ep\nVersion: 1.2\n")
    (dist / "entry_points.txt").write_text("[augmix_lab.plugins]\ndarken = tp_ep\n")
    monkeypatch.syspath_prepend(str(site))
    path = tmp_path / "s.yaml"
    path.write_text(STUDY.format(plugins="[]", name="darken_ep"))
    (mine, _) = expand_study(read_study(path))
    (ep,) = read_study(path).plugins
    assert (ep.kind, ep.name, ep.distribution) == ("entry_point", "darken", "tp-ep==1.2")
    assert mine.config.plugins == {"tp_ep": ep.digest}


@pytest.mark.parametrize("case", ["missing", "import_error", "syntax_error", "twice", "builtin_name"])
def test_bad_plugins_exit_2_naming_plugin_file_and_line(tmp_path: Path, forget: None, case: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    path = write_study(tmp_path)
    extra = {"missing": "nope/gone.py", "import_error": "broken.py", "syntax_error": "syntax.py",
             "twice": "again.py", "builtin_name": "shadow.py"}[case]
    (tmp_path / "broken.py").write_text("import math\n\nvalue = math.sqrt(-1)\n")
    (tmp_path / "syntax.py").write_text("def f(:\n    pass\n")
    (tmp_path / "again.py").write_text(METHOD.format(name="darken_tp"))
    (tmp_path / "shadow.py").write_text(METHOD.format(name="augmix").replace("class P", "class Q")
                                        .replace("Params = P", "Params = Q"))
    path.write_text(path.read_text().replace("[darken_tp.py]", f"[darken_tp.py, {extra}]"))
    assert main(["plan", str(path), "--no-estimate", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    expected = {
        "missing": f"study.yaml:2: field 'plugins.1': plugin 'nope/gone.py': no such file or folder "
                   f"'{tmp_path / 'nope' / 'gone.py'}'",
        "import_error": f"plugin 'broken.py' ({tmp_path / 'broken.py'}) failed to import: {tmp_path / 'broken.py'}:3: "
                        "ValueError: math domain error",
        "syntax_error": f"failed to import: {tmp_path / 'syntax.py'}:1: SyntaxError",
        "twice": f"augmentation method 'darken_tp' is registered twice: first at {tmp_path / 'darken_tp.py'}:11, "
                 f"again at {tmp_path / 'again.py'}:11",
        "builtin_name": "augmentation method 'augmix' is registered twice: first at ",
    }[case]
    assert expected in err, err
    assert not (tmp_path / "out").exists(), "nothing started"
    if case == "builtin_name":
        assert "augmix_lab/augment/views.py:" in err and f"{tmp_path / 'shadow.py'}:11" in err
    from augmix_lab.augment import AUGMENTATIONS

    assert "augmix" in AUGMENTATIONS and AUGMENTATIONS.origin("augmix")[0].endswith("augment/views.py")


def test_a_worker_imports_the_planned_code_or_refuses(tmp_path: Path, forget: None) -> None:
    path = write_study(tmp_path)
    (plugin,) = read_study(path).plugins
    unload_plugins([plugin])  # a fresh worker process: nothing imported yet
    origins = ensure_plugins([plugin.to_dict()])
    assert origins == {"darken_tp": str(tmp_path / "darken_tp.py")}
    unload_plugins([plugin])
    (tmp_path / "darken_tp.py").write_text(METHOD.format(name="darken_tp") + "\n# edited after planning\n")
    with pytest.raises(UserError, match="not the code the study was planned with"):
        ensure_plugins([plugin.to_dict()])


def test_every_registry_is_reachable_from_the_api(tmp_path: Path, forget: None) -> None:
    """One plugin registers a method, a training hook, a model, a dataset, a corruption, a metric and a report
    table through ``augmix_lab.api`` only; all are then known to their registries (and forgotten with the plugin)."""
    code = textwrap.dedent('''
        from typing import NamedTuple
        import torch.nn as nn
        from augmix_lab import api

        @api.register_method("tp_method")
        class M(api.Method):
            pass

        @api.register_training_hook("tp_hook")
        class H(api.TrainingHook):
            pass

        @api.register_model("tp_model", family="test")
        def tp_model(num_classes):
            return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))

        @api.register_dataset("tp_data", image_size=8, spec_version="tp-data-v1")
        def tp_data(root, *, n: int = 4):
            raise api.UserError("not needed here")

        class Level(NamedTuple):
            v: float

        @api.corruption("tp_corruption", family="digital", benchmark=False, order=999,
                        cifar=tuple(Level(s) for s in range(5)), imagenet=tuple(Level(s) for s in range(5)))
        def tp_corruption(x, c, params, profile):
            return x

        @api.register_metric("tp_metric", title="TP", aggregate="none", benchmark="clean")
        def tp_metric(rows, ctx):
            return None

        @api.register_table("tp_table", order=999)
        def tp_table(res, built=()):
            return None
    ''')
    (tmp_path / "tp_all.py").write_text(code)
    (plugin,) = load_plugins(["tp_all.py"], tmp_path, entry_points=False)
    from augmix_lab.augment import AUGMENTATIONS
    from augmix_lab.corruptions import CORRUPTIONS
    from augmix_lab.data import DATASETS
    from augmix_lab.evaluation.registry import METRICS
    from augmix_lab.models import MODELS
    from augmix_lab.report.tables.registry import TABLES
    from augmix_lab.training import TRAINING_HOOKS

    regs = [(AUGMENTATIONS, "tp_method"), (TRAINING_HOOKS, "tp_hook"), (MODELS, "tp_model"), (DATASETS, "tp_data"),
            (CORRUPTIONS, "tp_corruption"), (METRICS, "tp_metric"), (TABLES, "tp_table")]
    assert all(name in reg and reg.origin(name)[0] == str(tmp_path / "tp_all.py") for reg, name in regs)
    unload_plugins([plugin])
    assert not any(name in reg for reg, name in regs)


def test_api_names_are_documented() -> None:
    for name in api.__all__:
        obj = getattr(api, name)
        assert inspect.getdoc(obj), f"augmix_lab.api.{name} has no docstring"
    assert len(api.__all__) == len(set(api.__all__))
