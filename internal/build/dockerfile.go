package build

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// stage is one FROM of a Dockerfile.
type stage struct {
	base string // the image or stage after build arguments
	name string // the AS alias, lower case; "" without one
	line int    // where the FROM starts
}

// dockerfileError is a problem at a line of a Dockerfile.
type dockerfileError struct {
	line int
	msg  string
}

func (e *dockerfileError) Error() string { return fmt.Sprintf("line %d: %s", e.line, e.msg) }

// parseDockerfile reads the stages of a Dockerfile, expanding the build
// arguments FROM may use: the ARGs before the first FROM, with args
// overriding their defaults, and the automatic platform arguments. It reads
// only what finding the base image needs: parser directives, line
// continuations, comments, heredocs, ARG and FROM.
func parseDockerfile(content string, args, automatic map[string]string) ([]stage, error) {
	lines := strings.Split(strings.ReplaceAll(content, "\r\n", "\n"), "\n")
	escape := byte('\\')
	i := 0
	// Parser directives come first, before any comment, blank line or
	// instruction.
	for ; i < len(lines); i++ {
		m := directive.FindStringSubmatch(lines[i])
		if m == nil {
			break
		}
		if strings.EqualFold(m[1], "escape") {
			if v := strings.TrimSpace(m[2]); v == "`" || v == `\` {
				escape = v[0]
			} else {
				return nil, &dockerfileError{i + 1, fmt.Sprintf("escape directive %q: use \\ or `", v)}
			}
		}
	}

	global := map[string]string{}
	for k, v := range automatic {
		global[k] = v
	}
	var stages []stage
	for i < len(lines) {
		start := i + 1
		instruction, next := logicalLine(lines, i, escape)
		i = next
		if instruction == "" {
			continue
		}
		keyword, rest, _ := strings.Cut(instruction, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(keyword) {
		case "ARG":
			if len(stages) > 0 {
				continue // a stage's own argument, out of FROM's reach
			}
			if err := declareArgs(rest, args, global, escape); err != nil {
				return nil, &dockerfileError{start, err.Error()}
			}
		case "FROM":
			s, err := parseFrom(rest, global, escape)
			if err != nil {
				return nil, &dockerfileError{start, err.Error()}
			}
			s.line = start
			stages = append(stages, s)
		case "RUN", "COPY", "ADD":
			i = skipHeredocs(lines, i, rest)
		}
	}
	if len(stages) == 0 {
		return nil, &dockerfileError{1, "no FROM instruction"}
	}
	return stages, nil
}

var directive = regexp.MustCompile(`^#\s*([a-zA-Z]+)\s*=\s*(.*?)\s*$`)

// logicalLine joins the physical lines from i that continue each other and
// returns the instruction (without comments) and the index after it.
// Comment and blank lines inside a continuation are dropped, as docker does.
func logicalLine(lines []string, i int, escape byte) (string, int) {
	var b strings.Builder
	for ; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if line == "" || line[0] == '#' {
			if b.Len() == 0 {
				return "", i + 1
			}
			continue
		}
		if line[len(line)-1] == escape {
			b.WriteString(line[:len(line)-1])
			b.WriteByte(' ')
			continue
		}
		b.WriteString(line)
		return normalizeSpace(b.String()), i + 1
	}
	return normalizeSpace(b.String()), i
}

func normalizeSpace(s string) string {
	s = strings.TrimSpace(s)
	if k := strings.IndexFunc(s, unicode.IsSpace); k > 0 {
		return s[:k] + " " + strings.TrimSpace(s[k:])
	}
	return s
}

var heredoc = regexp.MustCompile(`<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)(["']?)`)

// skipHeredocs skips the bodies of the heredocs an instruction opens, so a
// line "FROM x" inside one is not taken for an instruction.
func skipHeredocs(lines []string, i int, rest string) int {
	for _, m := range heredoc.FindAllStringSubmatch(rest, -1) {
		if m[2] != m[4] {
			continue
		}
		stripTabs, word := m[1] == "-", m[3]
		for ; i < len(lines); i++ {
			line := lines[i]
			if stripTabs {
				line = strings.TrimLeft(line, "\t")
			}
			if line == word {
				i++
				break
			}
		}
	}
	return i
}

// declareArgs handles a global "ARG NAME[=DEFAULT] ...".
func declareArgs(rest string, args, global map[string]string, escape byte) error {
	words, err := splitWords(rest)
	if err != nil {
		return fmt.Errorf("ARG: %w", err)
	}
	if len(words) == 0 {
		return fmt.Errorf("ARG needs a name")
	}
	for _, w := range words {
		k, def, hasDefault := strings.Cut(w, "=")
		if k == "" {
			return fmt.Errorf("ARG %q needs a name", w)
		}
		if v, ok := args[k]; ok {
			global[k] = v
			continue
		}
		if hasDefault {
			v, err := expand(unquote(def), global, escape)
			if err != nil {
				return fmt.Errorf("ARG %s: %w", k, err)
			}
			global[k] = v
			continue
		}
		if _, ok := global[k]; !ok {
			global[k] = ""
		}
	}
	return nil
}

// parseFrom reads "FROM [--flag=value ...] IMAGE [AS NAME]".
func parseFrom(rest string, global map[string]string, escape byte) (stage, error) {
	words, err := splitWords(rest)
	if err != nil {
		return stage{}, fmt.Errorf("FROM: %w", err)
	}
	for len(words) > 0 && strings.HasPrefix(words[0], "--") {
		words = words[1:]
	}
	var s stage
	switch {
	case len(words) == 1:
	case len(words) == 3 && strings.EqualFold(words[1], "AS"):
		s.name = strings.ToLower(words[2])
	default:
		return stage{}, fmt.Errorf("FROM %s: want FROM [--platform=PLATFORM] IMAGE [AS NAME]", rest)
	}
	s.base, err = expand(unquote(words[0]), global, escape)
	if err != nil {
		return stage{}, fmt.Errorf("FROM %s: %w", words[0], err)
	}
	if s.base == "" {
		return stage{}, fmt.Errorf("FROM %s: the image name is empty after build arguments; set it with --build-arg", words[0])
	}
	return s, nil
}

// splitWords splits on spaces outside quotes, keeping the quotes.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	var quote rune
	inWord := false
	for _, c := range s {
		switch {
		case quote != 0:
			cur.WriteRune(c)
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
			inWord = true
			cur.WriteRune(c)
		case unicode.IsSpace(c):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			inWord = true
			cur.WriteRune(c)
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated %c quote", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// unquote removes the quotes in a word: "a b"c becomes a bc.
func unquote(w string) string {
	var b strings.Builder
	var quote rune
	for _, c := range w {
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote == 0 && (c == '"' || c == '\''):
			quote = c
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

// expand replaces $NAME, ${NAME}, ${NAME:-word}, ${NAME-word},
// ${NAME:+word} and ${NAME+word}; an escaped $ stays a $.
func expand(s string, vars map[string]string, escape byte) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == escape && i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		if s[i+1] == '{' {
			end := closingBrace(s[i+2:])
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q", s)
			}
			v, err := expandBraced(s[i+2:i+2+end], vars, escape)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i += 2 + end
			continue
		}
		j := i + 1
		for j < len(s) && isNameByte(s[j], j == i+1) {
			j++
		}
		if j == i+1 {
			b.WriteByte(c)
			continue
		}
		b.WriteString(vars[s[i+1:j]])
		i = j - 1
	}
	return b.String(), nil
}

// closingBrace is the index of the } closing a ${ whose body is s, or -1.
func closingBrace(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			if depth == 0 {
				return i
			}
			depth--
		}
	}
	return -1
}

func expandBraced(inner string, vars map[string]string, escape byte) (string, error) {
	k := 0
	for k < len(inner) && isNameByte(inner[k], k == 0) {
		k++
	}
	name, op := inner[:k], inner[k:]
	if name == "" {
		return "", fmt.Errorf("bad substitution ${%s}", inner)
	}
	v, set := vars[name]
	switch {
	case op == "":
		return v, nil
	case strings.HasPrefix(op, ":-"):
		if v == "" {
			return expand(op[2:], vars, escape)
		}
		return v, nil
	case strings.HasPrefix(op, "-"):
		if !set {
			return expand(op[1:], vars, escape)
		}
		return v, nil
	case strings.HasPrefix(op, ":+"):
		if v != "" {
			return expand(op[2:], vars, escape)
		}
		return "", nil
	case strings.HasPrefix(op, "+"):
		if set {
			return expand(op[1:], vars, escape)
		}
		return "", nil
	}
	return "", fmt.Errorf("unsupported substitution ${%s}", inner)
}

func isNameByte(c byte, first bool) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || !first && '0' <= c && c <= '9'
}

// finalBase follows the last stage through stage aliases to the image it
// starts from, and returns that image and the line naming it.
func finalBase(stages []stage) (string, int) {
	i := len(stages) - 1
	for {
		s := stages[i]
		next := -1
		for j := i - 1; j >= 0; j-- {
			if stages[j].name != "" && stages[j].name == strings.ToLower(s.base) {
				next = j
				break
			}
		}
		if next < 0 {
			return s.base, s.line
		}
		i = next
	}
}

// platformArgs are the build arguments every FROM may use without an ARG.
func platformArgs(platform, host string) map[string]string {
	if platform == "" {
		platform = host
	}
	args := map[string]string{"BUILDPLATFORM": host, "TARGETPLATFORM": platform}
	for prefix, p := range map[string]string{"BUILD": host, "TARGET": platform} {
		parts := strings.SplitN(p, "/", 3)
		for len(parts) < 3 {
			parts = append(parts, "")
		}
		args[prefix+"OS"], args[prefix+"ARCH"], args[prefix+"VARIANT"] = parts[0], parts[1], parts[2]
	}
	return args
}
