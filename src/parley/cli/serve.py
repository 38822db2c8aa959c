"""``parley serve``: an OpenAI-compatible chat-completions server over a local checkpoint."""

from __future__ import annotations

import typer

from parley.cli.common import fail, stdout


def serve_cmd(
    model: str = typer.Argument(
        ..., help="A model name (tiny, smollm2, hf:ORG/NAME; `parley model list`) or a checkpoint directory."
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind (loopback by default)."),
    port: int = typer.Option(8000, "--port", help="TCP port; 0 picks a free one (printed when ready)."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Most requests sampled in one batch."),
    batch_wait_ms: float = typer.Option(
        5.0, "--batch-wait-ms", min=0, help="How long to wait for more requests to fill a batch."
    ),
    device: str = typer.Option("cpu", "--device", help="torch device, e.g. cpu, cuda:0, or auto (cuda if present)."),
    dtype: str = typer.Option("float32", "--dtype", help="float32, bfloat16, float16, or auto (bf16 on CUDA)."),
    model_name: str | None = typer.Option(
        None, "--model-name", help="Model id clients pass (default: 'tiny' for tiny, else the directory name)."
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help="torch CPU threads."),
    max_pending: int = typer.Option(
        256, "--max-pending", min=1, help="Completions admitted at once; more get HTTP 503 with Retry-After."
    ),
    max_body_bytes: int = typer.Option(
        4 * 1024 * 1024, "--max-body-bytes", min=1024, help="Largest request body; larger ones get HTTP 413."
    ),
) -> None:
    """Serve MODEL at http://HOST:PORT/v1 (POST /chat/completions, GET /models).

    Concurrent requests are sampled together in batches. The port is taken before the model loads,
    so a busy port fails at once. Prints 'listening on URL (model ID)' once ready; clients pass ID
    as the model name.
    """
    from parley.serve import ServeLimits, bind_socket, load_hf_app, run_server

    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        fail(exc.strerror or str(exc))
    try:
        app = load_hf_app(
            model,
            batch_size=batch_size,
            batch_wait_ms=batch_wait_ms,
            device=device,
            dtype=dtype,
            served_name=model_name,
            num_threads=threads,
            limits=ServeLimits(max_pending=max_pending, max_body_bytes=max_body_bytes),
        )
    except (FileNotFoundError, ValueError) as exc:
        sock.close()
        fail(str(exc))
    served_id = app.state.served_name

    def ready(bound_port: int) -> None:
        stdout.print(f"listening on http://{host}:{bound_port}/v1 (model {served_id!r})", highlight=False)
        stdout.file.flush()

    run_server(app, host=host, port=port, on_ready=ready, sock=sock)
