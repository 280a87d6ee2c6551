package build

import (
	"strings"
	"testing"
)

func TestFinalBase(t *testing.T) {
	for _, tt := range []struct {
		name, dockerfile string
		args             map[string]string
		platform         string
		want             string
		line             int
	}{
		{"plain", "FROM registry.example/base:1\nUSER 65532\n", nil, "", "registry.example/base:1", 1},
		{"lower case and spaces", "\n  from   registry.example/base:1  \n", nil, "", "registry.example/base:1", 2},
		{"platform flag", "FROM --platform=$BUILDPLATFORM golang:1 AS build\nFROM --platform=linux/arm64 registry.example/base:1\n", nil, "", "registry.example/base:1", 2},
		{"alias chain", "FROM registry.example/base@sha256:abc AS base\nFROM base AS app\nRUN x\nFROM App\n", nil, "", "registry.example/base@sha256:abc", 1},
		{"alias is case-insensitive", "FROM registry.example/base:1 as Runtime\nFROM runtime\n", nil, "", "registry.example/base:1", 1},
		{"builder stage is not the base", "FROM golang:1 AS build\nRUN go build\nFROM registry.example/base:1\nCOPY --from=build /app /app\n", nil, "", "registry.example/base:1", 3},
		{"arg default", "ARG BASE=registry.example/base\nARG TAG=1\nFROM ${BASE}:$TAG\n", nil, "", "registry.example/base:1", 3},
		{"arg override", "ARG BASE=registry.example/base:1\nFROM $BASE\n", map[string]string{"BASE": "registry.example/other:2"}, "", "registry.example/other:2", 2},
		{"arg several on a line", "ARG REG=registry.example TAG=\"1.2\"\nFROM $REG/base:$TAG\n", nil, "", "registry.example/base:1.2", 2},
		{"arg default uses earlier arg", "ARG REG=registry.example\nARG BASE=$REG/base:1\nFROM $BASE\n", nil, "", "registry.example/base:1", 3},
		{"undeclared build arg is not seen", "FROM registry.example/base:${TAG:-1}\n", map[string]string{"TAG": "2"}, "", "registry.example/base:1", 1},
		{"declared without default takes override", "ARG TAG\nFROM registry.example/base:${TAG:-1}\n", map[string]string{"TAG": "2"}, "", "registry.example/base:2", 2},
		{"alternative value", "ARG DEBUG=1\nFROM registry.example/base${DEBUG:+-debug}\n", nil, "", "registry.example/base-debug", 2},
		{"stage arg does not reach FROM", "FROM registry.example/base:1 AS a\nARG TAG=9\nFROM registry.example/base:${TAG:-2}\n", nil, "", "registry.example/base:2", 3},
		{"automatic platform args", "FROM registry.example/base:$TARGETARCH\n", nil, "linux/arm64", "registry.example/base:arm64", 1},
		{"continuation and comments", "# build\nFROM \\\n# the base\n  registry.example/base:1 \\\n  AS final\n", nil, "", "registry.example/base:1", 2},
		{"escape directive", "# escape=`\nFROM registry.example/base:1 `\n  AS final\n", nil, "", "registry.example/base:1", 2},
		{"heredoc body is not an instruction", "FROM registry.example/base:1\nRUN <<EOF\nFROM evil.example/x\nEOF\n", nil, "", "registry.example/base:1", 1},
		{"CRLF", "FROM registry.example/base:1\r\nUSER 1\r\n", nil, "", "registry.example/base:1", 1},
		{"scratch", "FROM scratch\n", nil, "", "scratch", 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			stages, err := parseDockerfile(tt.dockerfile, tt.args, platformArgs(tt.platform, "linux/amd64"))
			if err != nil {
				t.Fatal(err)
			}
			got, line := finalBase(stages)
			if got != tt.want || line != tt.line {
				t.Errorf("finalBase = %q at line %d, want %q at line %d", got, line, tt.want, tt.line)
			}
		})
	}
}

func TestParseDockerfileErrors(t *testing.T) {
	for _, tt := range []struct{ name, dockerfile, want string }{
		{"no FROM", "# nothing\nRUN true\n", "line 1: no FROM instruction"},
		{"empty image", "ARG BASE\nFROM $BASE\n", "line 2: FROM $BASE: the image name is empty"},
		{"too many words", "FROM a b c d\n", "line 1: FROM a b c d: want FROM"},
		{"unterminated quote", "ARG A=\"x\nFROM a\n", "line 1: ARG: unterminated"},
		{"bad substitution", "FROM ${A?err}\n", "line 1: FROM ${A?err}: unsupported substitution"},
		{"unterminated brace", "FROM ${A\n", "unterminated ${"},
		{"bad escape", "# escape=x\nFROM a\n", "line 1: escape directive"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseDockerfile(tt.dockerfile, nil, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

func FuzzParseDockerfile(f *testing.F) {
	for _, seed := range []string{
		"FROM a\n",
		"ARG B=x\nFROM ${B:-y} AS s\nFROM s\n",
		"# escape=`\nFROM a `\n AS b\n",
		"FROM a\nRUN <<-EOF\n\tFROM b\n\tEOF\n",
		"ARG A=\"q w\" C='e'\nFROM $A${C:+x}${D-z}\n",
		"FROM \\\n\\\n",
		"FROM ${A:-${B:-${C}}}\n",
	} {
		f.Add(seed, "x")
	}
	f.Fuzz(func(t *testing.T, dockerfile, arg string) {
		stages, err := parseDockerfile(dockerfile, map[string]string{"B": arg}, platformArgs("", "linux/amd64"))
		if err != nil {
			return
		}
		if len(stages) == 0 {
			t.Fatal("no error and no stages")
		}
		base, line := finalBase(stages)
		if base == "" || line < 1 {
			t.Fatalf("finalBase = %q at line %d", base, line)
		}
	})
}
