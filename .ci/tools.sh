#!/usr/bin/env bash
# Installs every tool the tests and the local platform need, each pinned to a
# version and cached by that version under ~/.cache/stepper/tools/<name>@<version>.
# Symlinks in ~/.cache/stepper/bin point at the pinned builds; that folder is
# what internal/testenv searches first. Re-running is cheap: a cached version
# is never rebuilt.
#
#   bash .ci/tools.sh            install everything that is missing
#   bash .ci/tools.sh NAME...    install only these (see the table below)
#
# Two tools build at a time (STEPPER_TOOLS_JOBS), longest first, and the
# Debian packages install beside them: a build spends much of its time
# fetching modules and linking on one core, so two fill a small machine.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${STEPPER_CACHE:-$HOME/.cache/stepper}
bin=$cache/bin
mkdir -p "$bin" "$cache/tools"
export GOFLAGS=-mod=mod GOTOOLCHAIN=local

# name            version   how
# In order of how long a cold build takes (kube about 13 minutes on 2
# cores, helmfile 9, cosign 5, kwok 4, helm 4), so that the long ones start
# first. etcd, kube and kwok are the local control plane, which `stepper
# local up` builds the same way when they are missing
# (internal/local/build.go; a test holds the two in step). Their pinned
# modules are embedded in the binary, each file suffixed .pinned to keep it
# out of stepper's own module.
pins=(
  "debian          bookworm  apt:docker-registry groovy openjdk-17-jre-headless buildah podman runc rsync git time libxml2-utils chromium-headless-shell"
  "kube            v1.35.4   pinned:internal/local/assets/controlplane/kube"
  "helmfile        v1.8.0    gomod:testdata/tools/helmfile"
  "cosign          v3.1.3    goinstall:github.com/sigstore/cosign/v3/cmd/cosign"
  "kwok            v0.8.0    goinstall:sigs.k8s.io/kwok/cmd/kwok"
  "helm            v4.3.2    goinstall:helm.sh/helm/v4/cmd/helm"
  "etcd            v3.6.16   pinned:internal/local/assets/controlplane/etcd"
  "helm3           v3.21.4   goinstall:helm.sh/helm/v3/cmd/helm"
  "kube-score      v1.20.0   goinstall:github.com/zegl/kube-score/cmd/kube-score"
  "fluxcrd         v1.6.0    crdgen:testdata/tools/fluxcrd"
  "staticcheck     v0.8.2    goinstall:honnef.co/go/tools/cmd/staticcheck"
  "crane           v0.22.1   goinstall:github.com/google/go-containerregistry/cmd/crane"
  "gitlab-ci-local 4.73.0    npm:gitlab-ci-local"
)

log() { printf '[tools] %s\n' "$*" >&2; }

# The installs running (pid -> name), each in a subshell of its own, and
# there the heartbeat of its build. Each is stopped on exit. Under set -e a
# failing kill in a trap would be the script's status: a heartbeat that has
# been stopped is forgotten, and every kill may fail.
declare -A running=()
hb=""
trap 'for p in "${!running[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

heartbeat() { # name start-epoch took
  # Its sleep goes with it, so no orphan holds the caller's output open.
  trap 'kill "$s" 2>/dev/null; exit 0' TERM
  while sleep 30 & s=$!; wait "$s"; do log "still installing $1: $(($(date +%s) - $2))s so far$3"; done
}

ldflags_for() { # name version
  case $1 in
    kube) echo "-s -w -X k8s.io/component-base/version.gitVersion=$2 -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=35 -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$2" ;;
    cosign) echo "-s -w -X sigs.k8s.io/release-utils/version.gitVersion=$2" ;;
    helm) echo "-s -w -X helm.sh/helm/v4/internal/version.version=$2 -X helm.sh/helm/v4/internal/version.gitTreeState=clean" ;;
    helm3) echo "-s -w -X helm.sh/helm/v3/internal/version.version=$2 -X helm.sh/helm/v3/internal/version.gitTreeState=clean -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37" ;;
    kwok) echo "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$2" ;;
    helmfile) echo "-s -w -X go.szostok.io/version.version=$2" ;;
    *) echo "-s -w" ;;
  esac
}

link() { # target linkname
  ln -sfn "$1" "$bin/$2"
}

install_one() { # name version how
  local name=$1 version=$2 how=$3 dir=$cache/tools/$1@$2
  local kind=${how%%:*} what=${how#*:}
  # Debian packages are checked with dpkg every time: a cache folder can
  # outlive the packages of a machine it was copied from.
  if [ "$kind" = apt ]; then
    install_apt "$what"
    return
  fi
  if [ -f "$dir/.done" ]; then
    relink "$name" "$dir"
    return
  fi
  # The last build of this tool, whatever its version, says how long to wait.
  local last=$cache/tools/$name.last-build-seconds took=""
  [ -f "$last" ] && took=" (its last build took $(cat "$last")s)"
  log "installing $name $version ($kind)$took; cached afterwards in $dir"
  rm -rf "$dir"; mkdir -p "$dir/bin"
  local start=$SECONDS
  # A first build of kube takes minutes: say every 30 s that it still runs.
  heartbeat "$name" "$(date +%s)" "$took" &
  hb=$!
  case $kind in
    gomod)
      (cd "$root/$what" && go build -trimpath -ldflags "$(ldflags_for "$name" "$version")" -o "$dir/bin/" $(go_targets "$name"))
      ;;
    pinned)
      local work; work=$(mktemp -d)
      for f in "$root/$what"/*.pinned; do cp "$f" "$work/$(basename "$f" .pinned)"; done
      (cd "$work" && go build -trimpath -ldflags "$(ldflags_for "$name" "$version")" -o "$dir/bin/" $(go_targets "$name"))
      rm -rf "$work"
      ;;
    crdgen)
      # Flux publishes its CRD YAML only in its repository; generate it from
      # the pinned API types the way Flux's build does. The result lands in
      # $dir/crds, where internal/testenv finds it.
      (cd "$root/$what" && go build -trimpath -o "$dir/bin/" sigs.k8s.io/controller-tools/cmd/controller-gen &&
        "$dir/bin/controller-gen" crd:crdVersions=v1 paths=github.com/fluxcd/helm-controller/api/v2 output:crd:dir="$dir/crds")
      ;;
    goinstall)
      GOBIN=$dir/bin go install -trimpath -ldflags "$(ldflags_for "$name" "$version")" "$what@$version"
      ;;
    npm)
      npm install --silent --no-audit --no-fund --prefix "$dir" "$what@$version" >/dev/null
      ln -sfn "$dir/node_modules/.bin/$what" "$dir/bin/$what"
      command -v rsync >/dev/null || log "note: gitlab-ci-local needs rsync (installed by the debian entry)"
      ;;
  esac
  kill "$hb" 2>/dev/null || true
  hb=""
  touch "$dir/.done"
  echo "$((SECONDS - start))" > "$last"
  log "installed $name $version in $((SECONDS - start))s"
  relink "$name" "$dir"
}

install_apt() { # packages
  # shellcheck disable=SC2086
  dpkg -s $1 >/dev/null 2>&1 && return
  if [ "$(id -u)" != 0 ]; then log "not root: install these Debian packages yourself: $1"; return 1; fi
  log "installing Debian packages: $1"
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $1 >/dev/null
}

go_targets() {
  case $1 in
    kube) echo "k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler" ;;
    helmfile) echo "github.com/helmfile/helmfile" ;;
    *) echo "." ;;
  esac
}

relink() { # name dir
  case $1 in
    helm3) link "$2/bin/helm" helm3 ;;
    fluxcrd) ln -sfn "$2/crds" "$cache/crds-flux" ;;
    debian) ;;
    *) for f in "$2"/bin/*; do [ -e "$f" ] && link "$f" "$(basename "$f")"; done ;;
  esac
}

want=("$@")
jobs_max=${STEPPER_TOOLS_JOBS:-2}
apt_pid=""
failed=()

# builds counts the builds running, the Debian install aside.
builds() {
  local n=0 pid
  for pid in "${!running[@]}"; do [ "$pid" = "$apt_pid" ] || n=$((n + 1)); done
  echo "$n"
}

# reap waits for one install to end and notes it when it failed.
reap() {
  local pid rc=0
  wait -n -p pid "${!running[@]}" || rc=$?
  [ "$rc" = 0 ] || failed+=("${running[$pid]}")
  unset "running[$pid]"
}

# start installs one tool in the background. Its heartbeat is stopped
# however the install ends.
start() { # name version how
  (
    trap 'if [ -n "$hb" ]; then kill "$hb" 2>/dev/null || true; fi' EXIT
    install_one "$@"
  ) &
  running[$!]=$1
}

for row in "${pins[@]}"; do
  read -r name version how <<<"$row"
  if [ ${#want[@]} -gt 0 ]; then
    case " ${want[*]} " in *" $name "*) ;; *) continue ;; esac
  fi
  case $how in
    apt:*) start "$name" "$version" "$how"; apt_pid=$! ;; # beside the builds, in no slot
    *)
      while [ "$(builds)" -ge "$jobs_max" ]; do reap; done
      start "$name" "$version" "$how"
      ;;
  esac
done
while [ ${#running[@]} -gt 0 ]; do reap; done
if [ ${#failed[@]} -gt 0 ]; then
  log "failed: ${failed[*]} (what went wrong is above)"
  exit 1
fi
