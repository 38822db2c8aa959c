"""The ``hf`` backend: a local transformers causal LM with batched, seeded, exact-id sampling.

:class:`HFChatModel` applies the tokenizer's chat template, samples with
:func:`parley.llm.sampling.generate` (left-padded batch, KV cache, per-row generators) and returns
the exact prompt ids, sampled ids and their sampling log-probs, which RL training consumes.

Concurrency: ``complete()`` calls from any number of asyncio tasks (or event loops) go to a
micro-batcher. A single worker thread takes the first waiting request and keeps collecting while
requests keep coming: it stops when ``batch_wait_ms`` pass without a new one, when ``batch_size`` are
waiting, or after ``max(50 ms, 10 x batch_wait_ms)``; then it samples them together in one batch, so
torch work never blocks the event loop. A batch's results reach each event loop in one callback, so
all debates waiting on it wake in the same loop iteration and their next turns arrive as one burst:
every in-flight turn of an RL step (all debates at the same stage) lands in the same batch instead of
being split by a fixed window that the prompt rendering of the burst outlasts. Because each request
samples from its own generator seeded by ``SamplingParams.seed``, results do not depend on how
requests were grouped (see ``sampling``).
With ``dispatch_when_idle`` (set by the trainer, whose debates move in lockstep) the worker does not
wait out the last ``batch_wait_ms`` of a burst: each event loop that sent a request also queues a
marker with ``loop.call_soon``, which runs only after every task that was ready in that loop iteration
has run (asyncio runs one iteration's ready callbacks before the ones they schedule), i.e. after the
whole burst of turns woken by one batch's results has been queued; when every loop with a request in
the batch has sent its marker, the batch starts at once. (A request sent later, e.g. after a task
awaited something else, joins the next batch; the window and cap still apply.)
Requests with the same seed and the same prompt give the same completion: give independent samples
different seeds. A request without a seed gets a fresh random one.

The synchronous :meth:`HFChatModel.generate_batch` / :meth:`HFChatModel.generate_ids` and
:meth:`HFChatModel.logprobs_of` serve trainers that do not run an event loop; a lock keeps them and
the worker from using the model at the same time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import secrets
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parley.config.models import ModelConfig
from parley.llm.base import ChatModel
from parley.llm.chat_encoding import ChatEncoder
from parley.llm.compute import ComputeThread, run_on
from parley.llm.errors import LLMError, ProviderError
from parley.llm.timing import PhaseTimer, maybe
from parley.llm.types import Completion, Message, SamplingParams, Usage

logger = logging.getLogger(__name__)

_DTYPES = ("auto", "float32", "bfloat16", "float16")


@dataclass
class _Pending:
    """A request waiting for the worker, with the future its caller awaits."""

    prompt_ids: list[int]
    params: SamplingParams
    seed: int
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Completion]
    enqueued: float


#: Loop iterations a ``dispatch_when_idle`` marker waits: the burst's own tasks run in the first, tasks
#: they start (``asyncio.gather``, ``asyncio.wait_for``) in the next.
IDLE_ITERATIONS = 2


@dataclass
class _Drained:
    """Marker queued by ``loop.call_soon`` after a request: the loop's ready tasks have all run."""

    loop: int


class HFChatModel(ChatModel):
    """A local transformers causal LM behind parley's :class:`ChatModel` interface.

    Args:
        model: a loaded causal LM (``eval()`` mode is set here).
        tokenizer: its tokenizer; must carry a chat template.
        name: reported as ``Completion.model``.
        batch_size: most requests sampled together in one batch.
        batch_wait_ms: how long the worker waits for more requests after the first one arrives.
        num_threads: ``torch.set_num_threads`` value for the constructing thread (and threads started after,
            such as the batcher); on CPU defaults to half the cores (see :mod:`parley.llm.compute` for why
            not all of them when two threads compute).
        ignore_eos: never stop on EOS / ``<|end|>`` (benchmarks that need fixed lengths).
        lean: use the lean Llama-family decoder where it applies (:mod:`parley.llm.decoders`);
            ``False`` runs the model's own forward for every step.
        dispatch_when_idle: start a batch as soon as every event loop with a request in it has run all
            its ready tasks (see the module docstring), instead of waiting ``batch_wait_ms`` more.
        compute: run the forward passes on this :class:`~parley.llm.compute.ComputeThread` (shared with
            other models and the trainer's optimisation, so the process has one OpenMP team); ``None``:
            on the batcher thread (or the synchronous caller's).

    ``timer`` (a :class:`~parley.llm.timing.PhaseTimer`, default ``None``) collects the time of prompt
    encoding and of each sampling phase when a benchmark sets it.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str,
        batch_size: int = 32,
        batch_wait_ms: float = 5.0,
        num_threads: int | None = None,
        ignore_eos: bool = False,
        lean: bool = True,
        dispatch_when_idle: bool = False,
        compute: ComputeThread | None = None,
    ) -> None:
        if getattr(tokenizer, "chat_template", None) is None:
            raise ValueError(f"model {name!r}: the tokenizer has no chat template")
        if batch_size < 1:
            raise ValueError(f"batch_size={batch_size}: must be >= 1")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.chat_encoder = ChatEncoder(tokenizer)
        self.name = name
        self.batch_size = batch_size
        self.batch_wait_s = max(0.0, batch_wait_ms) / 1000.0
        self.ignore_eos = ignore_eos
        self.lean = lean
        self.dispatch_when_idle = dispatch_when_idle
        self.compute = compute
        self._marking: set[int] = set()  # loops with a marker scheduled (touched on their own threads)
        self.timer: PhaseTimer | None = None
        self.max_positions: int | None = getattr(model.config, "max_position_embeddings", None)
        self.pad_id = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)
        self.stop_token_ids = self._find_stop_ids()
        if num_threads is None and _on_cpu(model):
            # Small matrices on a shared CPU: extra intra-op threads mostly spin and contend
            # (measured 10x slower with 2 threads than 1 on a loaded 2-core machine).
            num_threads = max(1, (os.cpu_count() or 2) // 2)
        if num_threads is not None:
            import torch

            torch.set_num_threads(num_threads)
        self._model_lock = threading.Lock()
        self._queue: queue.Queue[_Pending | _Drained | None] = queue.Queue()
        self._state_lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._closed = False
        self.batches_run = 0  # observability: how many batches the worker has sampled

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        path: Path,
        *,
        device: str = "cpu",
        dtype: str = "float32",
        batch_size: int = 32,
        batch_wait_ms: float = 5.0,
        name: str | None = None,
        num_threads: int | None = None,
        ignore_eos: bool = False,
        lean: bool = True,
        dispatch_when_idle: bool = False,
    ) -> HFChatModel:
        """Load model and tokenizer from a ``save_pretrained`` directory (keywords as for the class)."""
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(
                f"model path {str(path)!r}: no config.json; pass a directory written by save_pretrained "
                "(e.g. `parley model build-random DIR`) or a catalog name (`parley model list`)"
            )
        if dtype not in _DTYPES:
            raise ValueError(f"dtype={dtype!r}: must be one of {', '.join(_DTYPES)}")
        device = resolve_device(device)
        if dtype == "auto":
            dtype = best_dtype(device)
        tokenizer = AutoTokenizer.from_pretrained(path)
        model: Any = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))
        model = model.to(device)
        return cls(
            model,
            tokenizer,
            name=name or path.name,
            batch_size=batch_size,
            batch_wait_ms=batch_wait_ms,
            num_threads=num_threads,
            ignore_eos=ignore_eos,
            lean=lean,
            dispatch_when_idle=dispatch_when_idle,
        )

    @classmethod
    def from_config(cls, config: ModelConfig, model_path: Path | None = None) -> HFChatModel:
        """Build from a model config: ``model_path`` overrides ``config.name``, which is resolved through
        the model catalog (:func:`parley.llm.catalog.resolve_model`: ``tiny``, ``smollm2``, ``hf:ORG/NAME``
        or a checkpoint directory)."""
        if model_path is None:
            from parley.llm.catalog import resolve_model

            model_path = resolve_model(config.name)
        return cls.from_pretrained(
            model_path,
            device=config.device,
            dtype=config.dtype,
            batch_size=config.batch_size,
            batch_wait_ms=config.batch_wait_ms,
            name=config.name,
            num_threads=config.num_threads,
        )

    def _find_stop_ids(self) -> tuple[int, ...]:
        ids: list[int] = []
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for value in (gen_eos, self.tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.append(value)
            elif isinstance(value, list):
                ids.extend(int(v) for v in value)
        end_id = self.tokenizer.convert_tokens_to_ids("<|end|>")
        if isinstance(end_id, int) and end_id != self.tokenizer.unk_token_id:
            ids.append(end_id)
        return tuple(sorted(set(ids)))

    # ---- synchronous API ----------------------------------------------------------------------
    @property
    def returns_token_ids(self) -> bool:
        """Always ``True``: completions carry exact prompt ids, sampled ids and log-probs."""
        return True

    def encode_prompt(self, messages: Sequence[Message]) -> list[int]:
        """The exact ids fed to the model: the chat template with the assistant generation prompt
        (:class:`~parley.llm.chat_encoding.ChatEncoder`: ``apply_chat_template``'s ids, computed faster)."""
        with maybe(self.timer, "prompt_encoding"):
            return self.chat_encoder.encode(messages)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` with special tokens removed."""
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True))

    def _check(self, prompt_ids: Sequence[int], params: SamplingParams) -> None:
        """Reject bad requests before they can fail a whole batch."""
        if not prompt_ids:
            raise ProviderError("empty prompt", status_code=400)
        if params.max_new_tokens < 1:
            raise ProviderError(f"max_new_tokens={params.max_new_tokens}: must be >= 1", status_code=400)
        if params.temperature < 0:
            raise ProviderError(f"temperature={params.temperature}: must be >= 0", status_code=400)
        if not 0 < params.top_p <= 1:
            raise ProviderError(f"top_p={params.top_p}: must be in (0, 1]", status_code=400)
        if self.max_positions is not None and len(prompt_ids) >= self.max_positions:
            raise ProviderError(
                f"prompt has {len(prompt_ids)} tokens; model {self.name!r} has a context of "
                f"{self.max_positions} tokens. Shorten the conversation.",
                status_code=400,
            )

    def generate_ids(
        self,
        prompts: Sequence[Sequence[int]],
        params: Sequence[SamplingParams],
        *,
        seeds: Sequence[int] | None = None,
    ) -> list[Completion]:
        """Sample one completion per prompt (already-tokenised ids), all in batches of ``batch_size``.

        ``seeds`` default to each request's ``params.seed``, or a fresh random seed where unset.
        """
        if len(prompts) != len(params):
            raise ValueError("generate_ids: prompts and params must have the same length")
        for prompt, p in zip(prompts, params, strict=True):
            self._check(prompt, p)
        if seeds is None:
            seeds = [_seed_of(p) for p in params]
        out: list[Completion] = []
        for start in range(0, len(prompts), self.batch_size):
            end = start + self.batch_size
            out.extend(self._run(prompts[start:end], params[start:end], seeds[start:end]))
        return out

    def generate_batch(
        self, requests: Sequence[tuple[Sequence[Message], SamplingParams]]
    ) -> list[Completion]:
        """Synchronous batched sampling for callers without an event loop (e.g. a trainer)."""
        prompts = [self.encode_prompt(messages) for messages, _ in requests]
        return self.generate_ids(prompts, [p for _, p in requests])

    def logprobs_of(
        self, prompt_ids: Sequence[int], completion_ids: Sequence[int], temperature: float = 1.0
    ) -> list[float]:
        """Recompute the sampling log-probs of ``completion_ids`` after ``prompt_ids`` (one forward)."""
        from parley.llm.sampling import sequence_logprobs

        with self._model_lock:
            return run_on(self.compute, sequence_logprobs, self.model, [(prompt_ids, completion_ids)], temperature,
                          pad_id=self.pad_id)[0]

    def _run(
        self, prompts: Sequence[Sequence[int]], params: Sequence[SamplingParams], seeds: Sequence[int]
    ) -> list[Completion]:
        from parley.llm.sampling import generate

        started = time.monotonic()
        with self._model_lock:
            results = run_on(
                self.compute,
                generate,
                self.model,
                prompts,
                params,
                seeds,
                decode=self.decode,
                pad_id=self.pad_id,
                stop_token_ids=() if self.ignore_eos else self.stop_token_ids,
                max_positions=self.max_positions,
                lean=self.lean,
                timer=self.timer,
            )
        latency = time.monotonic() - started
        self.batches_run += 1
        return [
            Completion(
                text=r.text,
                model=self.name,
                finish_reason=r.finish_reason,
                usage=Usage(prompt_tokens=len(prompt), completion_tokens=len(r.token_ids), cost_usd=0.0),
                token_ids=r.token_ids,
                logprobs=r.logprobs,
                prompt_token_ids=list(prompt),
                latency_s=latency,
            )
            for prompt, r in zip(prompts, results, strict=True)
        ]

    # ---- asynchronous API (micro-batched) -----------------------------------------------------
    async def complete(self, messages: Sequence[Message], params: SamplingParams) -> Completion:
        """Sample one completion; concurrent calls are sampled together in one batch."""
        prompt = self.encode_prompt(messages)
        self._check(prompt, params)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Completion] = loop.create_future()
        item = _Pending(prompt, params, _seed_of(params), loop, future, time.monotonic())
        with self._state_lock:
            if self._closed:
                raise LLMError(f"model {self.name!r} is closed")
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._serve, name=f"hf-batcher-{self.name}", daemon=True
                )
                self._worker.start()
            self._queue.put(item)
        if self.dispatch_when_idle and id(loop) not in self._marking:
            self._marking.add(id(loop))
            loop.call_soon(self._mark_drained, loop, IDLE_ITERATIONS)
        return await future

    def _mark_drained(self, loop: asyncio.AbstractEventLoop, iterations: int) -> None:
        if iterations > 1:  # tasks started by the burst (gather, wait_for) run one iteration later
            loop.call_soon(self._mark_drained, loop, iterations - 1)
            return
        self._marking.discard(id(loop))
        self._queue.put(_Drained(id(loop)))

    def _collect(self, first: _Pending) -> tuple[list[_Pending], bool]:
        """The first request plus whatever arrives within ``batch_wait_s``; and whether to stop."""
        batch = [first]
        now = time.monotonic()
        cap = now + max(0.05, 10 * self.batch_wait_s)
        deadline = min(now + self.batch_wait_s, cap)
        drained: set[int] = set()
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                return batch, True
            if isinstance(item, _Drained):
                drained.add(item.loop)
                if {id(p.loop) for p in batch} <= drained:
                    break
                continue
            drained.discard(id(item.loop))
            batch.append(item)
            deadline = min(time.monotonic() + self.batch_wait_s, cap)
        return batch, False

    def _serve(self) -> None:
        """Worker thread: collect micro-batches and sample them until the sentinel arrives."""
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                break
            if isinstance(first, _Drained):
                continue
            batch, stop = self._collect(first)
            batch = [p for p in batch if not p.future.cancelled()]
            if not batch:
                continue
            try:
                results = self._run(
                    [p.prompt_ids for p in batch], [p.params for p in batch], [p.seed for p in batch]
                )
            except Exception as exc:  # delivered to every waiting caller, who re-raises it
                logger.exception("batch of %d requests failed", len(batch))
                for p in batch:
                    _deliver(p, None, exc)
                continue
            done = time.monotonic()
            for p, result in zip(batch, results, strict=True):
                result.latency_s = done - p.enqueued
            _deliver_all(batch, results)

    async def aclose(self) -> None:
        """Stop the worker after the requests already queued are served. Idempotent."""
        with self._state_lock:
            if self._closed:
                return
            self._closed = True
            worker = self._worker
            if worker is not None:
                self._queue.put(None)
        if worker is not None:
            await asyncio.to_thread(worker.join)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA device is present, else ``cpu``; other values pass through.

    An explicit ``cuda`` without a CUDA device is a ``ValueError`` naming the fix (rather than torch's
    lazy-init traceback on the first tensor).
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r}: torch sees no CUDA device here; use device 'cpu' or 'auto'")
    return device


def best_dtype(device: str) -> str:
    """``bfloat16`` on a CUDA device that supports it, else ``float32`` (CPU bf16 matmuls are slow here)."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        return "bfloat16"
    return "float32"


def _on_cpu(model: Any) -> bool:
    return all(p.device.type == "cpu" for p in model.parameters())


def _seed_of(params: SamplingParams) -> int:
    return params.seed if params.seed is not None else secrets.randbits(63)


def _deliver_all(batch: Sequence[_Pending], results: Sequence[Completion]) -> None:
    """Hand a batch's results to their callers: one thread-safe callback per event loop."""
    by_loop: dict[int, list[tuple[_Pending, Completion]]] = {}
    loops: dict[int, asyncio.AbstractEventLoop] = {}
    for p, r in zip(batch, results, strict=True):
        by_loop.setdefault(id(p.loop), []).append((p, r))
        loops[id(p.loop)] = p.loop

    def _set_all(items: list[tuple[_Pending, Completion]]) -> None:
        for pending, result in items:
            if not pending.future.done():
                pending.future.set_result(result)

    for key, items in by_loop.items():
        try:
            loops[key].call_soon_threadsafe(_set_all, items)
        except RuntimeError:
            logger.warning("caller's event loop closed before its completions were delivered")


def _deliver(pending: _Pending, result: Completion | None, error: BaseException | None) -> None:
    """Hand a result or error to the caller's event loop (thread-safe)."""

    def _set() -> None:
        if pending.future.done():
            return
        if result is not None:
            pending.future.set_result(result)
        else:
            pending.future.set_exception(error or LLMError("no result"))

    try:
        pending.loop.call_soon_threadsafe(_set)
    except RuntimeError:
        logger.warning("caller's event loop closed before its completion was delivered")
