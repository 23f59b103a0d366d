package deployment

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"unicode/utf8"
)

// maxDepth bounds nesting: deeper than any real configuration, shallow
// enough that a hostile document cannot make the parser recurse far.
const maxDepth = 64

// parseTree parses JSON into map[string]any, []any, string, json.Number,
// bool and nil. Unlike encoding/json it refuses a key given twice in one
// object (parsers disagree on which wins, so a document could mean two
// things). Paths in errors start at root; syntax errors call the input name.
func parseTree(data []byte, root, name string) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := &treeParser{dec: dec, data: data, name: name}
	v, err := p.value(root, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, p.syntax(errors.New("more data after the end of the JSON value"))
	}
	return v, nil
}

type treeParser struct {
	dec  *json.Decoder
	data []byte
	name string
}

func (p *treeParser) value(path string, depth int) (any, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, p.syntax(err)
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= maxDepth {
		return nil, &FieldError{Path: path, Msg: fmt.Sprintf("nests deeper than %d levels; flatten it", maxDepth), Err: ErrInvalid}
	}
	switch delim {
	case '{':
		m := map[string]any{}
		for p.dec.More() {
			tok, err := p.dec.Token()
			if err != nil {
				return nil, p.syntax(err)
			}
			key, _ := tok.(string) // More and Token guarantee a string key here
			kp := keyPath(path, key)
			if _, dup := m[key]; dup {
				return nil, &FieldError{Path: kp, Msg: "is given twice in one object; keep one", Err: ErrInvalid}
			}
			if m[key], err = p.value(kp, depth+1); err != nil {
				return nil, err
			}
		}
		_, err = p.dec.Token() // '}'
		return m, p.syntaxOrNil(err)
	default: // '['
		l := []any{}
		for p.dec.More() {
			v, err := p.value(index(path, len(l)), depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, v)
		}
		_, err = p.dec.Token() // ']'
		return l, p.syntaxOrNil(err)
	}
}

func (p *treeParser) syntaxOrNil(err error) error {
	if err == nil {
		return nil
	}
	return p.syntax(err)
}

func (p *treeParser) syntax(err error) error {
	if err == io.EOF {
		err = errors.New("unexpected end of input")
	}
	offset := p.dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		offset = se.Offset
	}
	line, col := position(p.data, offset)
	return &FieldError{Msg: fmt.Sprintf("%s is not valid JSON (line %d, column %d): %v", p.name, line, col, err), Err: ErrInvalid}
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

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// join appends a field name to a path.
func join(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// keyPath appends an object key: parent.key for identifiers, parent["key"]
// for anything else (component names have dots).
func keyPath(parent, key string) string {
	if identifier.MatchString(key) {
		return join(parent, key)
	}
	return parent + "[" + strconv.Quote(truncate(key)) + "]"
}

func index(parent string, i int) string { return fmt.Sprintf("%s[%d]", parent, i) }

// describe names the kind of a tree value for error messages.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return fmt.Sprintf("the text %q", truncate(v))
	case bool:
		return fmt.Sprintf("the boolean %t", v)
	case json.Number:
		return fmt.Sprintf("the number %s", truncate(string(v)))
	}
	return fmt.Sprintf("a %T", v)
}

// truncate keeps quoted values in error messages readable.
func truncate(s string) string {
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
