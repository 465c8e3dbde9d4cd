"""The layer rule of docs/architecture.md, enforced on every import in the code base.

Layers, lowest first: wire (generated protos + ``motiflens_client.wire``) → core
(``motiflens``) → adapters (``services.common``, one package per service, the SDK) →
applications (CLI, experiments, report, ``bench/``). An import may only point down;
services never import one another; an application and bench use only public names of
the packages below them; the client package never imports TensorFlow, Keras or h5py.

The test reads every ``import`` statement (module level and inside functions) with
``ast``, so it needs no import of the code and fails on a new breach at once.
``ALLOWED_BREACHES`` lists the breaches that the layout still has; an entry that no
longer occurs must be removed, so the list only shrinks.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: (top-level package name, directory holding it)
ROOTS = (
    ("motiflens", REPO / "motiflens"),
    ("services", REPO / "services"),
    ("motiflens_client", REPO / "client" / "motiflens_client"),
    ("bench", REPO / "bench"),
)
#: The client distribution is light: these never appear in it.
HEAVY_FOR_CLIENT = ("tensorflow", "keras", "h5py")
#: Client modules that are applications (layer 4), by module-name prefix.
CLIENT_APPLICATIONS = (
    "motiflens_client.cli",
    "motiflens_client.experiments",
    "motiflens_client.experiment",
    "motiflens_client.report",
    "motiflens_client.__main__",
)
#: What each layer may import, besides itself.
MAY_IMPORT = {
    "wire": {"wire"},
    "core": {"core"},
    "common": {"core", "wire", "common"},
    "service": {"core", "wire", "common"},  # and its own package, checked apart
    "launcher": {"common", "service", "wire"},
    "sdk": {"wire", "sdk"},
    "application": {"wire", "sdk", "application"},
    # bench may start the stack (the launcher) as ``motiflens up`` does.
    "bench": {"core", "wire", "sdk", "application", "bench", "launcher"},
}

#: (importer module, imported module) pairs allowed to break the rule. Empty since the
#: four-layer layout is complete: a new breach is fixed, not listed.
ALLOWED_BREACHES: frozenset[tuple[str, str]] = frozenset()


def module_files() -> dict[str, Path]:
    """Every Python module of the code base by dotted name (generated protos excluded)."""
    modules = {}
    for top, root in ROOTS:
        for path in sorted(root.rglob("*.py")):
            if "_proto" in path.parts or "__pycache__" in path.parts:
                continue
            relative = path.relative_to(root).with_suffix("")
            parts = [top, *relative.parts]
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def layer_of(module: str) -> str | None:
    """The layer of a first-party module, or None for a third-party one."""
    top = module.split(".")[0]
    if top == "motiflens":
        return "core"
    if top == "bench" or top.startswith("reproduce_"):
        return "bench"
    if top == "services":
        parts = module.split(".")
        if len(parts) == 1:
            return "launcher"
        if parts[1] == "common":
            return "common"
        if parts[1] == "launcher":
            return "launcher"
        return "service"
    if top == "motiflens_client":
        if module.startswith(("motiflens_client._proto", "motiflens_client.wire")):
            return "wire"
        if any(module == name or module.startswith(name + ".") for name in CLIENT_APPLICATIONS):
            return "application"
        return "sdk"
    return None


def imports_of(module: str, path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(imported module, names taken from it) for every import statement in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, ()) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((target, tuple(alias.name for alias in node.names)))
    return found


def _private_part(target: str, names: tuple[str, ...]) -> str | None:
    """The dotted path up to the first private component (``_x``) of an import, if any."""
    parts = target.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[: index + 1])
    for name in names:
        if name.startswith("_") and not name.startswith("__"):
            return f"{target}.{name}"
    return None


def breaches() -> set[tuple[str, str]]:
    """Every (importer, imported) pair that breaks the layer rule."""
    found = set()
    for module, path in module_files().items():
        importer_layer = layer_of(module)
        for target, names in imports_of(module, path):
            top = target.split(".")[0]
            if module.startswith("motiflens_client") and top in HEAVY_FOR_CLIENT:
                found.add((module, target))
                continue
            target_layer = layer_of(target)
            if target_layer is None:
                continue
            if importer_layer == "service" and target_layer == "service":
                if target.split(".")[:2] != module.split(".")[:2]:
                    found.add((module, target))  # services never import one another
                continue
            if target_layer != importer_layer and target_layer not in MAY_IMPORT[importer_layer]:
                found.add((module, target))
                continue
            private = _private_part(target, names)
            if private is not None and importer_layer in {"application", "bench"}:
                owner = private.rpartition(".")[0]
                if not (module == owner or module.startswith(owner + ".")):
                    found.add((module, target))  # applications use public names only
    return found


def test_every_import_points_down_the_layers():
    new = sorted(breaches() - ALLOWED_BREACHES)
    assert not new, "imports that break the layer rule (docs/architecture.md):\n" + "\n".join(
        f"  {importer} -> {imported}" for importer, imported in new
    )


def test_the_allow_list_only_holds_breaches_that_still_exist():
    stale = sorted(ALLOWED_BREACHES - breaches())
    assert not stale, "remove these fixed breaches from ALLOWED_BREACHES:\n" + "\n".join(
        f"  {importer} -> {imported}" for importer, imported in stale
    )


def test_the_checker_sees_a_breach_in_each_direction(tmp_path):
    # The checker itself must find what the rule forbids (a test that cannot fail is no test).
    assert layer_of("motiflens.attribution") == "core"
    assert layer_of("services.interpreter.servicer") == "service"
    assert layer_of("motiflens_client.wire.tensors") == "wire"
    assert layer_of("motiflens_client.sdk") == "sdk"
    assert layer_of("motiflens_client.cli.train") == "application"
    assert "core" not in MAY_IMPORT["sdk"] and "application" not in MAY_IMPORT["core"]
    source = tmp_path / "probe.py"
    source.write_text("from ..trainer import jobs\nfrom motiflens_client._convert import x\n")
    found = imports_of("services.interpreter.probe", source)
    assert found[0] == ("services.trainer", ("jobs",))
    assert _private_part(*found[1]) == "motiflens_client._convert"
