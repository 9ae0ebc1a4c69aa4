# syntax=docker/dockerfile:1.7
# One image definition for every service of the platform. Build targets:
#
#   cs (default)   the four services (cs-gateway, cs-intent, cs-sentiment, cs-generator), the cs CLI
#                  and the model-building commands; base + [ml] dependencies
#   gateway        cs-gateway and the cs CLI only; base dependencies, no torch/transformers/onnxruntime
#                  (import-linter keeps the gateway free of them), a few hundred MB instead of several GB
#   webchat        cs-webchat (the web-chat widget and its visitor API, HTTP 8090): the gateway's packages
#   console        cs-console (the web console for agents and supervisors, a gRPC client of the gateway)
#                  and the cs CLI; the gateway's packages (starlette and uvicorn are base dependencies)
#   generator-gpu  `cs` with the NVIDIA container-runtime variables and CS_GENERATOR_DEVICE=cuda. The torch
#                  wheel that requirements.lock pins (PyPI, Linux x86_64) already carries CUDA 13 (the
#                  nvidia-* packages in the lock), so the CPU and GPU images hold the same packages; the node
#                  needs an NVIDIA driver that supports CUDA 13 (R580 or newer) and the NVIDIA container toolkit.
#   models         `cs` plus the public training data sets and `cs-models`, the one-off step that builds
#                  the model versions into CS_MODEL_DIR (a volume). Needs the data folder as a named build
#                  context: docker build --build-context shared-data=../shared/data --target models .
#   (ml is the internal stage cs, generator-gpu and models start from.)
#
# Versions: every Python package is taken at the exact version requirements.lock records. The gateway and
# cs targets install the closure of their pyproject dependencies with the lock as constraints (so the
# test-only packages in the lock stay out), and the build fails if anything ends up installed at a
# version the lock does not name.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# pip's cache lives in a BuildKit cache mount: rebuilds after a lock change download only what changed,
# and the cache never ends up in an image.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# setuptools is the build backend pyproject pins; --no-build-isolation below uses this one.
RUN pip install pip==26.3 setuptools==84.2.1
WORKDIR /src
COPY pyproject.toml requirements.lock ./
# requirements-<target>.txt: the pyproject dependency lists each target installs.
RUN python - <<'EOF'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
base, ml = project["dependencies"], project["optional-dependencies"]["ml"]
open("/tmp/requirements-gateway.txt", "w").write("\n".join(base) + "\n")
open("/tmp/requirements-cs.txt", "w").write("\n".join(base + ml) + "\n")
EOF
# Fails the build when an installed distribution is missing from requirements.lock or differs from it.
COPY <<'EOF' /usr/local/bin/check-lock
#!/usr/local/bin/python
import importlib.metadata as md, re, sys
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
lock = dict(line.strip().split("==") for line in open("/src/requirements.lock") if "==" in line and not line.startswith("#"))
lock = {norm(k): v for k, v in lock.items()} | {"pip": "26.3", "setuptools": "84.2.1"}
bad = [f"{d.metadata['Name']}=={d.version}" for d in md.distributions(path=sys.argv[1:])
       if norm(d.metadata["Name"]) != "cs-platform" and lock.get(norm(d.metadata["Name"])) != d.version]
if bad:
    sys.exit(f"installed but not pinned by requirements.lock: {', '.join(sorted(bad))}")
print("check-lock: every installed package matches requirements.lock")
EOF
RUN chmod +x /usr/local/bin/check-lock

FROM build AS venv-gateway
RUN --mount=type=cache,target=/root/.cache/pip pip install -c requirements.lock -r /tmp/requirements-gateway.txt
COPY README.md ./
COPY services ./services
RUN pip install --no-deps --no-build-isolation . \
 && check-lock /opt/venv/lib/python3.11/site-packages

FROM build AS venv-cs
RUN --mount=type=cache,target=/root/.cache/pip pip install -c requirements.lock -r /tmp/requirements-cs.txt
COPY README.md ./
COPY services ./services
RUN pip install --no-deps --no-build-isolation . \
 && check-lock /opt/venv/lib/python3.11/site-packages

FROM ${PYTHON_IMAGE} AS runtime
# uid/gid 10001: the Kubernetes manifests' securityContext runs as this user.
RUN groupadd --system --gid 10001 cs \
 && useradd --system --uid 10001 --gid cs --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cs \
 && install -d -o cs -g cs -m 0755 /models
# Container defaults; compose and the Kubernetes manifests set the CS_* ones explicitly as well.
# With a read-only root filesystem /tmp is the one writable place (tmpfs / emptyDir), so HOME, the
# Hugging Face cache and Faust's scratch folder (tempfile.mkdtemp, see services/common/worker/loop.py) go there.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    HF_HOME=/tmp/huggingface \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    CS_METRICS_HOST=0.0.0.0 \
    CS_GATEWAY_LISTEN=0.0.0.0:50051 \
    CS_MODEL_DIR=/models
WORKDIR /app
LABEL org.opencontainers.image.title="cs-platform" \
      org.opencontainers.image.licenses="Apache-2.0"
# gateway gRPC, worker health (intent, sentiment, generator), /metrics (gateway, intent, sentiment, generator)
EXPOSE 50051 50061 50062 50063 9101 9102 9103 9104

FROM runtime AS gateway
COPY --from=venv-gateway /opt/venv /opt/venv
USER 10001:10001
CMD ["cs-gateway"]

FROM runtime AS webchat
COPY --from=venv-gateway /opt/venv /opt/venv
ENV CS_WEBCHAT_LISTEN=0.0.0.0:8090
EXPOSE 8090 9106
USER 10001:10001
CMD ["cs-webchat"]

FROM runtime AS console
COPY --from=venv-gateway /opt/venv /opt/venv
ENV CS_CONSOLE_LISTEN=0.0.0.0:8080
# HTTP (pages and event streams), /metrics
EXPOSE 8080 9105
USER 10001:10001
CMD ["cs-console"]

FROM runtime AS ml
COPY --from=venv-cs /opt/venv /opt/venv
USER 10001:10001
CMD ["cs", "--help"]

FROM ml AS generator-gpu
ENV NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    CS_GENERATOR_DEVICE=cuda
CMD ["cs-generator"]

FROM ml AS models
# The public data sets the intent and sentiment training commands read (not part of the repository).
COPY --from=shared-data --chown=10001:10001 . /data
ENV CS_SHARED_DATA=/data
# cs-models: build (or reuse) each model version and make it CURRENT. Each step reuses a version built
# from the same inputs, so re-running it is cheap; the workers then only load what it promoted.
COPY --chmod=0755 <<'EOF' /usr/local/bin/cs-models
#!/bin/sh
set -eu
echo "cs-models: building into ${CS_MODEL_DIR}"
python -m services.intent.training --promote
python -m services.sentiment.training --promote
python -m services.generator.llm.weights
echo "cs-models: done"
EOF
CMD ["cs-models"]

# Last stage = what `docker build .` produces.
FROM ml AS cs
