# parley's image for Kubernetes stage pods and Ray cluster nodes (docs/scale-out.md).
#   docker build -t REGISTRY/parley:0.1.0 .            # CPU: the pinned CPU torch wheel
#   docker build --build-arg EXTRAS=train,ray,k8s -t REGISTRY/parley:0.1.0 .
# Stage pods run `python -m parley.experiments.stage_main --task /experiments/...` in /app, with the
# experiments volume mounted at /experiments. Not built in the repository's CI (no container engine there).
FROM python:3.11-slim-bookworm

ARG EXTRAS=train,ray,k8s
ARG TORCH=torch==2.13.0
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false RAY_USAGE_STATS_ENABLED=0

# bubblewrap: the sandbox for model-written code (parley.sandbox)
RUN apt-get update && apt-get install -y --no-install-recommends bubblewrap && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY src ./src
COPY data ./data
# torch first and pinned (any unpinned spec pulls a multi-GB CUDA build on CPU images; for GPU nodes
# pass --build-arg TORCH="torch==2.13.0 --index-url <your CUDA wheel index>")
RUN python -m pip install --upgrade "pip>=24,<27" && python -m pip install ${TORCH} \
    && python -m pip install -c constraints.txt ".[${EXTRAS}]"

# an unprivileged user; parley's Jobs set fsGroup 1000 so it can write the experiments volume
RUN useradd --create-home --uid 1000 parley && mkdir -p /experiments && chown parley /experiments
USER parley
ENV PARLEY_CACHE_DIR=/experiments/.parley-cache
CMD ["python", "-m", "parley.cli.app", "--help"]
