#!/usr/bin/env bash
# Lints the infrastructure without an AWS account:
#   1. cfn-lint template.yaml
#   2. sam validate --lint (the template after the SAM transform)
#   3. asl-validator on statemachine/*.asl.json, each rendered the way CloudFormation renders it
#      (every ${Name} DefinitionSubstitution replaced by a sample value: the file itself is not
#      JSON until then, because TimeoutSeconds is a number placeholder)
#   4. the IAM check: every Action in the template is in scripts/iam-actions.txt, none is a
#      wildcard (a Deny may name `s3:*`: widening a Deny errs on the safe side), and no statement
#      grants on "*" except the actions in WILDCARD_RESOURCE_ACTIONS of tests/template.rs
#      (tests/template.rs checks the same and more)
# With --build it also runs `sam build` (cargo-lambda, release, arm64: several minutes) for the
# repositories in $LINT_REPOSITORIES (default "api,web"): the template's per-repository loop
# needs a RepositoryNames value to be expanded locally.
#
# Idempotent: installs what is missing (aws-sam-cli and cfn-lint from PyPI, asl-validator from
# npm through npx, cargo-lambda and the aarch64 target for --build). Needs python3 and node.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=0
for arg in "$@"; do
    case "$arg" in
        --build) BUILD=1 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "lint-infra: unknown argument $arg (try --help)" >&2; exit 2 ;;
    esac
done

PYTHON="${PYTHON:-python3}"
ASL_VALIDATOR="asl-validator@4.0.0"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}" SAM_CLI_TELEMETRY=0
export NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false

step() { printf '\n==> %s\n' "$*"; }

# pip puts console scripts here; it may not be on PATH (pyenv shims need a rehash).
SCRIPTS="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
tool() {
    if [ -x "$SCRIPTS/$1" ]; then echo "$SCRIPTS/$1"; else command -v "$1" || true; fi
}
ensure_pip() { # command, pip requirement
    if [ -z "$(tool "$1")" ]; then
        echo "lint-infra: installing $2"
        "$PYTHON" -m pip install --quiet --disable-pip-version-check "$2"
    fi
    [ -n "$(tool "$1")" ] || { echo "lint-infra: $1 is still missing after installing $2" >&2; exit 1; }
}

step "tools"
ensure_pip cfn-lint cfn-lint
ensure_pip sam aws-sam-cli
command -v npx >/dev/null || { echo "lint-infra: node/npx not found; install Node.js" >&2; exit 1; }
"$(tool cfn-lint)" --version
"$(tool sam)" --version

step "cfn-lint template.yaml"
"$(tool cfn-lint)" template.yaml

step "sam validate --lint"
"$(tool sam)" validate --lint --template-file template.yaml

rendered="$(mktemp --suffix=.asl.json)"
trap 'rm -f "$rendered"' EXIT
for definition in statemachine/*.asl.json; do
step "asl-validator $definition (rendered)"
"$PYTHON" - "$definition" "$rendered" <<'PY'
import json, re, sys
text = open(sys.argv[1]).read()
def sample(m):
    name = m.group(1)
    if name.endswith("Seconds"):
        return "3600"
    if name.endswith("Arn"):
        return f"arn:aws:iam::123456789012:role/{name}"
    return name
rendered = re.sub(r"\$\{(\w+)\}", sample, text)
json.loads(rendered)  # JSON once rendered, as Step Functions will see it
open(sys.argv[2], "w").write(rendered)
PY
npx --yes "$ASL_VALIDATOR" --json-path "$rendered"
done

step "IAM actions (scripts/iam-actions.txt)"
"$PYTHON" - template.yaml scripts/iam-actions.txt tests/template.rs <<'PY'
import re, sys
from cfnlint.decode import decode
template, problems = decode(sys.argv[1])
if problems:
    sys.exit(f"cannot read {sys.argv[1]}: {problems}")
known = {l.strip() for l in open(sys.argv[2]) if l.strip() and not l.startswith("#")}
# The one list of actions that may be granted on "*" (each with its evidence) is in the tests.
block = re.search(r"const WILDCARD_RESOURCE_ACTIONS: &\[&str\] = &\[(.*?)\];",
                  open(sys.argv[3]).read(), re.S)
if not block:
    sys.exit(f"{sys.argv[3]}: WILDCARD_RESOURCE_ACTIONS not found")
wildcard_ok = set(re.findall(r'"([a-z0-9-]+:[A-Za-z0-9]+)"', block.group(1)))
bad, count = [], 0
def as_list(v):
    return v if isinstance(v, list) else [v]
def walk(owner, node):
    global count
    if isinstance(node, dict):
        if "Effect" in node:
            count += 1
            if "NotAction" in node or "NotResource" in node:
                bad.append(f"{owner}: NotAction/NotResource")
            deny = node.get("Effect") == "Deny"
            for action in as_list(node.get("Action", [])):
                if deny and isinstance(action, str) and action.endswith(":*"):
                    continue
                if not isinstance(action, str) or "*" in action:
                    bad.append(f"{owner}: wildcard or computed action {action!r}")
                elif action not in known:
                    bad.append(f"{owner}: {action} is not an IAM action")
            if "*" in as_list(node.get("Resource", [])):
                for action in as_list(node.get("Action", [])):
                    if action not in wildcard_ok:
                        bad.append(f"{owner}: {action} on Resource \"*\"")
        for value in node.values():
            walk(owner, value)
    elif isinstance(node, list):
        for value in node:
            walk(owner, value)
for logical, resource in template.get("Resources", {}).items():
    walk(logical, resource)
if bad:
    sys.exit("\n".join(bad))
print(f"{count} policy statements, every action known, no wildcards "
      f"(\"*\" only for the {len(wildcard_ok)} actions without a resource type)")
PY

if [ "$BUILD" = 1 ]; then
    step "sam build (cargo-lambda, release, arm64)"
    ensure_pip cargo-lambda cargo-lambda
    export PATH="$SCRIPTS:$PATH"  # sam runs `cargo lambda`
    if command -v rustup >/dev/null; then
        rustup target list --installed | grep -qx aarch64-unknown-linux-gnu \
            || rustup target add aarch64-unknown-linux-gnu
    fi
    start=$(date +%s)
    "$(tool sam)" build --template-file template.yaml --language-extensions \
        --parameter-overrides "RepositoryNames=${LINT_REPOSITORIES:-api,web}"
    echo "sam build took $(( $(date +%s) - start )) s; artifacts in .aws-sam/build"
fi

step "infrastructure lint passed"
