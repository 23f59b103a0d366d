package strictjson

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds nesting: deeper than any real document or configuration
// merge, shallow enough that a hostile input cannot make the parser recurse
// far.
const MaxDepth = 64

// Parse parses JSON into map[string]any, []any, string, json.Number, bool
// and nil, refusing duplicate keys, nesting deeper than MaxDepth, invalid
// UTF-8 and trailing data. Paths in its errors start at root (a document
// held in a string field names that field); syntax errors name the input
// name. Decode calls it; packages whose documents need more than struct
// tags (the deployment document) walk the tree themselves.
//
// It is a small recursive-descent parser rather than encoding/json's
// Decoder.Token, which costs several times more per token and dominated
// the telemetry Lambda's per-record time.
func Parse(data []byte, root, name string) (any, error) {
	p := &parser{data: data, name: name, root: root}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos < len(p.data) {
		return nil, p.syntax("more data after the end of the JSON value")
	}
	return v, nil
}

type parser struct {
	data []byte
	pos  int
	name string
	root string   // the path of the input in its document
	path segments // where the parser is below root, rendered only for an error
}

func (p *parser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (any, error) {
	if p.pos >= len(p.data) {
		return nil, p.syntax("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		if depth >= MaxDepth {
			return nil, &FieldError{Path: p.path.under(p.root), Msg: fmt.Sprintf("nests deeper than %d levels; flatten it", MaxDepth), Err: ErrInvalid}
		}
		return p.object(depth)
	case c == '[':
		if depth >= MaxDepth {
			return nil, &FieldError{Path: p.path.under(p.root), Msg: fmt.Sprintf("nests deeper than %d levels; flatten it", MaxDepth), Err: ErrInvalid}
		}
		return p.list(depth)
	case c == '"':
		return p.str()
	case c == '-' || ('0' <= c && c <= '9'):
		return p.number()
	case p.literal("true"):
		return true, nil
	case p.literal("false"):
		return false, nil
	case p.literal("null"):
		return nil, nil
	}
	return nil, p.syntax(fmt.Sprintf("invalid character %s looking for the beginning of a value", quoteChar(p.data[p.pos])))
}

func (p *parser) literal(word string) bool {
	if bytes.HasPrefix(p.data[p.pos:], []byte(word)) {
		p.pos += len(word)
		return true
	}
	return false
}

func (p *parser) object(depth int) (any, error) {
	p.pos++ // '{'
	m := map[string]any{}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return m, nil
	}
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.expected("a string (an object key)")
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.expected("':' after an object key")
		}
		p.pos++
		p.space()
		p.path.pushKey(key)
		if _, dup := m[key]; dup {
			return nil, &FieldError{Path: p.path.under(p.root), Msg: "is given twice in one object; keep one", Err: ErrInvalid}
		}
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.path.pop()
		m[key] = v
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.syntax("unexpected end of input")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return m, nil
		default:
			return nil, p.expected("',' or '}' after an object value")
		}
	}
}

func (p *parser) list(depth int) (any, error) {
	p.pos++ // '['
	l := []any{}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return l, nil
	}
	for {
		p.space()
		p.path.pushIndex(len(l))
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.path.pop()
		l = append(l, v)
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.syntax("unexpected end of input")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return l, nil
		default:
			return nil, p.expected("',' or ']' after a list value")
		}
	}
}

// str reads a string at p.pos (on its opening quote).
func (p *parser) str() (string, error) {
	start := p.pos + 1
	i := start
	for i < len(p.data) {
		c := p.data[i]
		switch {
		case c == '"':
			if !utf8.Valid(p.data[start:i]) {
				p.pos = start
				return "", p.syntax("a string is not valid UTF-8; send UTF-8 text")
			}
			p.pos = i + 1
			return string(p.data[start:i]), nil
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			p.pos = i
			return "", p.syntax(fmt.Sprintf("invalid character %s in a string; escape control characters", quoteChar(c)))
		}
		i++
	}
	p.pos = i
	return "", p.syntax("unexpected end of input in a string")
}

// escaped reads a string with escapes, from just after its opening quote.
func (p *parser) escaped(start int) (string, error) {
	var b []byte
	i := start
	for i < len(p.data) {
		c := p.data[i]
		switch {
		case c == '"':
			if !utf8.Valid(b) {
				p.pos = start
				return "", p.syntax("a string is not valid UTF-8; send UTF-8 text")
			}
			p.pos = i + 1
			return string(b), nil
		case c < 0x20:
			p.pos = i
			return "", p.syntax(fmt.Sprintf("invalid character %s in a string; escape control characters", quoteChar(c)))
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(p.data) {
			break
		}
		switch e := p.data[i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, n := p.unicode(i)
			if n == 0 {
				p.pos = i
				return "", p.syntax("invalid \\u escape in a string; write \\u and four hex digits")
			}
			b = utf8.AppendRune(b, r)
			i += n
			continue
		default:
			p.pos = i
			return "", p.syntax(fmt.Sprintf("invalid escape %s in a string", quoteChar(e)))
		}
		i += 2
	}
	p.pos = i
	return "", p.syntax("unexpected end of input in a string")
}

// unicode decodes \uXXXX at i (and a following low surrogate); n is the
// bytes read, 0 when invalid. Lone surrogates become U+FFFD, as in
// encoding/json.
func (p *parser) unicode(i int) (rune, int) {
	r := hex4(p.data[i+2 : min(i+6, len(p.data))])
	if r < 0 {
		return 0, 0
	}
	if utf16.IsSurrogate(r) {
		if i+12 <= len(p.data) && p.data[i+6] == '\\' && p.data[i+7] == 'u' {
			if r2 := hex4(p.data[i+8 : i+12]); r2 >= 0 {
				if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
					return d, 12
				}
			}
		}
		return utf8.RuneError, 6
	}
	return r, 6
}

func hex4(b []byte) rune {
	if len(b) != 4 {
		return -1
	}
	var r rune
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r<<4 | rune(c)
	}
	return r
}

// number reads a JSON number (RFC 8259 grammar) as json.Number.
func (p *parser) number() (any, error) {
	start := p.pos
	i := p.pos
	digits := func() int {
		n := 0
		for i < len(p.data) && '0' <= p.data[i] && p.data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if p.data[i] == '-' {
		i++
	}
	switch {
	case i < len(p.data) && p.data[i] == '0':
		i++
	case digits() == 0:
		p.pos = i
		return nil, p.syntax("a number needs digits")
	}
	if i < len(p.data) && p.data[i] == '.' {
		i++
		if digits() == 0 {
			p.pos = i
			return nil, p.syntax("a number needs digits after '.'")
		}
	}
	if i < len(p.data) && (p.data[i] == 'e' || p.data[i] == 'E') {
		i++
		if i < len(p.data) && (p.data[i] == '+' || p.data[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.pos = i
			return nil, p.syntax("a number needs digits in its exponent")
		}
	}
	p.pos = i
	return json.Number(p.data[start:i]), nil
}

func (p *parser) expected(what string) error {
	if p.pos >= len(p.data) {
		return p.syntax("unexpected end of input")
	}
	return p.syntax(fmt.Sprintf("invalid character %s; expected %s", quoteChar(p.data[p.pos]), what))
}

func (p *parser) syntax(msg string) error {
	line, col := position(p.data, int64(p.pos))
	return &FieldError{Msg: fmt.Sprintf("%s is not valid JSON (line %d, column %d): %s", p.name, line, col, msg), Err: ErrInvalid}
}

func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	return "'" + s[1:len(s)-1] + "'"
}

func position(data []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(data)))
	before := data[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	if i := bytes.LastIndexByte(before, '\n'); i >= 0 {
		before = before[i+1:]
	}
	return line, utf8.RuneCount(before) + 1
}

// segments is a field path as a stack, so that walking a document costs no
// allocation per field; String renders it for an error.
type segments []segment

type segment struct {
	key   string
	index int // -1 for a key
}

func (s *segments) pushKey(k string) { *s = append(*s, segment{key: k, index: -1}) }
func (s *segments) pushIndex(i int)  { *s = append(*s, segment{index: i}) }
func (s *segments) pop()             { *s = (*s)[:len(*s)-1] }
func (s segments) String() string    { return s.under("") }

// under renders the path below parent.
func (s segments) under(parent string) string {
	path := parent
	for _, seg := range s {
		if seg.index < 0 {
			path = Key(path, seg.key)
		} else {
			path = Index(path, seg.index)
		}
	}
	return path
}

// Field appends a field name to a path.
func Field(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// Key appends an object key: parent.key for identifiers, parent["key"] for
// anything else (component names have dots).
func Key(parent, key string) string {
	if isIdentifier(key) {
		return Field(parent, key)
	}
	return parent + "[" + strconv.Quote(Truncate(key)) + "]"
}

func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Index appends a list index to a path.
func Index(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

// Describe names the kind of a tree value for error messages, quoting a
// short form of text and numbers: "the text \"abc\"", "an object", "null".
func Describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("the text %q", Truncate(v))
	case bool:
		return fmt.Sprintf("the boolean %t", v)
	case json.Number:
		return "the number " + Truncate(string(v))
	}
	return fmt.Sprintf("a %T", v)
}

// Truncate keeps values quoted in error messages readable.
func Truncate(s string) string {
	const max = 60 // enough to recognise a value, short enough for one log line
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut-- // never split a character
	}
	return s[:cut] + "…"
}
