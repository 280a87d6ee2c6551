package dev.stepper.jenkins

import com.cloudbees.groovy.cps.NonCPS

/**
 * Which stepper binary runs, and the proof that it is the pinned one.
 *
 * The library pins a version and the sha256 of each platform's binary in
 * resources/dev/stepper/jenkins/stepper.json. Before any verb runs, a short
 * sh script finds the binary (binary.path, or one cached on the agent by an
 * earlier build), else downloads it, and refuses to go on unless its sha256
 * is the pinned one. The directory that holds the verified binary is put
 * first on PATH for the run.
 */
class Binary implements Serializable {
    private static final long serialVersionUID = 1L

    /** RESOURCE is the pin, read with libraryResource. */
    static final String RESOURCE = 'dev/stepper/jenkins/stepper.json'

    /** DEFAULTS: everything is the pin's unless set. */
    static final Map DEFAULTS = [
        path   : null, // a stepper the agent provides; it must match the pinned sha256 too
        version: null, // the pin's version
        url    : null, // the pin's download URL; {version}, {os} and {arch} are filled in
        sha256 : null, // the sha256 of this agent's binary, when you pin another version than the library
        cache  : null, // where downloads are kept: ${XDG_CACHE_HOME:-$HOME/.cache}/stepper/jenkins/<version>
    ].asImmutable()

    /** pin is the resource's pin with settings laid over it. */
    @NonCPS
    static Map pin(Map resource, Map settings) {
        Map s = settings ?: [:]
        Map sums = new LinkedHashMap((Map) (resource?.sha256 ?: [:]))
        String version = s.version ?: resource?.version
        if (s.version && s.version != resource?.version && !s.sha256) {
            sums = [:] // another version's sums are not the library's to know
        }
        return [
            version: version,
            url    : s.url ?: resource?.url,
            sha256 : s.sha256 ? [any: s.sha256] : sums,
            path   : s.path,
            cache  : s.cache,
        ]
    }

    /** problem says why pin cannot be used, or null. */
    @NonCPS
    static String problem(Map pin) {
        if (!pin.version) {
            return 'stepper: no pinned version: the library\'s ' + RESOURCE + ' names none and binary.version is not set'
        }
        Map sums = (Map) pin.sha256
        if (!sums || !sums.values().any { it ==~ /[0-9a-f]{64}/ }) {
            return ("stepper: no sha256 is pinned for ${pin.version}: without one no binary is run. " +
                'Set binary.sha256 to the published sha256 of this agent\'s stepper, or use a library release whose ' +
                RESOURCE + ' pins it').toString()
        }
        if (!pin.path && !pin.url) {
            return "stepper: nowhere to get ${pin.version} from: set binary.url or binary.path".toString()
        }
        return null
    }

    /**
     * script is the sh script that prints the directory of the verified
     * binary on its last line, or fails naming what was wrong.
     */
    @NonCPS
    static String script(Map pin) {
        Map sums = (Map) pin.sha256
        StringBuilder b = new StringBuilder()
        b << 'set -eu\n'
        b << "version=${Command.quote((String) pin.version)}\n"
        b << "path=${Command.quote((String) (pin.path ?: ''))}\n"
        b << "url=${Command.quote((String) (pin.url ?: ''))}\n"
        b << "cache=${Command.quote((String) (pin.cache ?: ''))}\n"
        b << 'os=$(uname -s | tr "[:upper:]" "[:lower:]")\n'
        b << 'case "$(uname -m)" in x86_64|amd64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) arch=$(uname -m) ;; esac\n'
        if (sums.any) {
            b << "want=${Command.quote((String) sums.any)}\n"
        } else {
            b << 'case "$os-$arch" in\n'
            for (Map.Entry e in sums.entrySet()) {
                if (e.value) {
                    b << "  ${Command.quote((String) e.key)}) want=${Command.quote((String) e.value)} ;;\n"
                }
            }
            b << '  *) echo "stepper $version: no sha256 is pinned for $os-$arch" >&2; exit 1 ;;\n'
            b << 'esac\n'
        }
        b << '''sum() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  else shasum -a 256 "$1" | cut -d' ' -f1; fi
}
if [ -z "$cache" ]; then cache="${XDG_CACHE_HOME:-$HOME/.cache}/stepper/jenkins/$version"; fi
if [ -n "$path" ]; then
  if [ ! -f "$path" ] || [ ! -x "$path" ]; then echo "stepper: binary.path $path is not an executable file" >&2; exit 1; fi
  got=$(sum "$path")
  if [ "$got" != "$want" ]; then
    echo "stepper: $path has sha256 $got, but $version for $os-$arch is pinned at $want: refusing to run it" >&2; exit 1
  fi
  mkdir -p "$cache/path"
  ln -sf "$path" "$cache/path/stepper"
  echo "$cache/path"
  exit 0
fi
mkdir -p "$cache"
if [ -f "$cache/stepper" ] && [ "$(sum "$cache/stepper")" = "$want" ]; then echo "$cache"; exit 0; fi
from=$(printf '%s' "$url" | sed -e "s|{version}|$version|g" -e "s|{os}|$os|g" -e "s|{arch}|$arch|g")
tmp="$cache/.stepper.$$"
trap 'rm -f "$tmp"' EXIT
echo "stepper: downloading $version from $from" >&2
curl -fsSL --retry 3 -o "$tmp" "$from"
got=$(sum "$tmp")
if [ "$got" != "$want" ]; then
  echo "stepper: $from has sha256 $got, but $version for $os-$arch is pinned at $want: refusing to run it" >&2; exit 1
fi
chmod 0755 "$tmp"
mv -f "$tmp" "$cache/stepper"
echo "$cache"
'''
        return b.toString()
    }

    /** directory is the last line the script printed. */
    @NonCPS
    static String directory(String stdout) {
        List<String> lines = (stdout ?: '').readLines().findAll { it.trim() }
        return lines ? lines[-1].trim() : ''
    }
}
