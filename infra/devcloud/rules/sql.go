// Package rules is devcloud's IoT rules engine. This part is the rules
// SQL (version 2016-03-23) devcloud evaluates:
//
//	SELECT item[, item…] FROM 'topic/+/filter/#' [WHERE condition]
//
// where an item is `*` or an expression with an optional `AS name`; an
// expression is a field path (a.b.c), a 'string', a number, or one of the
// functions topic(), topic(n) (1-based), timestamp() (epoch ms),
// clientid(), principal(), newuuid(), encode(*|expr, 'base64') and
// get(expr, key); a condition compares expressions with = <> < <= > >=
// joined by AND, OR, NOT and parentheses. Fields the message lacks are
// undefined: an item that is undefined is left out, a comparison with one
// is false. Anything else (arithmetic, CASE, other functions, VALUE,
// nested SELECT, a function item without AS) is refused by Parse with an
// error naming the construct, so `devcloud up` stops rather than running
// a rule differently from IoT Core.
//
// The engine (engine.go) runs the template's topic rules on the
// endpoint's messages with their actions (actions.go).
package rules

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
)

// ErrUnsupported is wrapped by Parse for SQL devcloud does not evaluate.
var ErrUnsupported = errors.New("unsupported rules SQL")

// Query is a parsed rule statement.
type Query struct {
	// From is the topic filter.
	From  string
	items []item
	where expr
}

type item struct {
	all  bool
	e    expr
	name string
}

// Message is what a rule evaluates: an MQTT message and its sender.
type Message struct {
	Topic     string
	Payload   []byte
	ClientID  string
	Principal string
	Now       time.Time
}

// undefined marks a value the message does not have.
type undefinedT struct{}

var undefined = undefinedT{}

type expr interface {
	eval(m *env) any
}

type env struct {
	msg  Message
	doc  map[string]any // nil when the payload is not a JSON object
	tops []string
}

// Parse parses a rule's SQL.
func Parse(sql string) (*Query, error) {
	toks, err := tokenize(sql)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	return p.query()
}

// Matches reports whether topic matches the FROM filter.
func (q *Query) Matches(topic string) bool {
	f := strings.Split(q.From, "/")
	t := strings.Split(topic, "/")
	for i, seg := range f {
		if seg == "#" {
			return true
		}
		if i >= len(t) || (seg != "+" && seg != t[i]) {
			return false
		}
	}
	return len(f) == len(t)
}

// Evaluate runs the statement on m: ok is false when the topic does not
// match or WHERE is not true; out is the SELECT's JSON object.
func (q *Query) Evaluate(m Message) (out []byte, ok bool, err error) {
	if !q.Matches(m.Topic) {
		return nil, false, nil
	}
	e := &env{msg: m, tops: strings.Split(m.Topic, "/")}
	var doc map[string]any
	if json.Unmarshal(m.Payload, &doc) == nil {
		e.doc = doc
	}
	if q.where != nil {
		if b, _ := q.where.eval(e).(bool); !b {
			return nil, false, nil
		}
	}
	res := map[string]any{}
	for _, it := range q.items {
		if it.all {
			if e.doc == nil {
				return nil, false, fmt.Errorf("SELECT * of a payload that is not a JSON object (topic %s): use encode(*, 'base64')", m.Topic)
			}
			for k, v := range e.doc {
				res[k] = v
			}
			continue
		}
		if v := it.e.eval(e); v != undefined {
			res[it.name] = v
		}
	}
	out, err = json.Marshal(res)
	return out, err == nil, err
}

// Expressions.

type field []string

func (f field) eval(e *env) any {
	var cur any = e.doc
	if e.doc == nil {
		return undefined
	}
	for _, k := range f {
		obj, ok := cur.(map[string]any)
		if !ok {
			return undefined
		}
		if cur, ok = obj[k]; !ok {
			return undefined
		}
	}
	return cur
}

type literal struct{ v any }

func (l literal) eval(*env) any { return l.v }

type star struct{}

func (star) eval(e *env) any { return e.msg.Payload }

type call struct {
	name string
	args []expr
}

func (c call) eval(e *env) any {
	switch c.name {
	case "topic":
		if len(c.args) == 0 {
			return e.msg.Topic
		}
		n, ok := c.args[0].eval(e).(float64)
		if !ok || n < 1 || int(n) > len(e.tops) {
			return undefined
		}
		return e.tops[int(n)-1]
	case "timestamp":
		return float64(e.msg.Now.UnixMilli())
	case "clientid":
		return e.msg.ClientID
	case "principal":
		return e.msg.Principal
	case "newuuid":
		return uuid.NewString()
	case "encode":
		v := c.args[0].eval(e)
		var raw []byte
		switch v := v.(type) {
		case []byte:
			raw = v
		case string:
			raw = []byte(v)
		case undefinedT:
			return undefined
		default:
			raw, _ = json.Marshal(v)
		}
		return base64.StdEncoding.EncodeToString(raw)
	case "get":
		obj, ok := c.args[0].eval(e).(map[string]any)
		key, ok2 := c.args[1].eval(e).(string)
		if !ok || !ok2 {
			return undefined
		}
		if v, ok := obj[key]; ok {
			return v
		}
		return undefined
	}
	return undefined
}

type compare struct {
	op   string
	l, r expr
}

func (c compare) eval(e *env) any {
	a, b := c.l.eval(e), c.r.eval(e)
	if a == undefined || b == undefined {
		return false
	}
	switch x := a.(type) {
	case float64:
		y, ok := b.(float64)
		if !ok {
			return c.op == "<>"
		}
		return order(c.op, cmpFloat(x, y))
	case string:
		y, ok := b.(string)
		if !ok {
			return c.op == "<>"
		}
		return order(c.op, strings.Compare(x, y))
	case bool:
		y, ok := b.(bool)
		if !ok || (c.op != "=" && c.op != "<>") {
			return c.op == "<>"
		}
		return (x == y) == (c.op == "=")
	}
	return false
}

func cmpFloat(x, y float64) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

func order(op string, c int) bool {
	switch op {
	case "=":
		return c == 0
	case "<>":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

type logic struct {
	op   string // AND, OR, NOT
	l, r expr
}

func (g logic) eval(e *env) any {
	l, _ := g.l.eval(e).(bool)
	switch g.op {
	case "NOT":
		return !l
	case "AND":
		if !l {
			return false
		}
		r, _ := g.r.eval(e).(bool)
		return r
	}
	if l {
		return true
	}
	r, _ := g.r.eval(e).(bool)
	return r
}

// Tokens and parser.

type token struct {
	kind string // ident, string, number, op, end
	text string
}

func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("rules SQL: unterminated string at %d", i)
			}
			out = append(out, token{"string", s[i+1 : i+1+j]})
			i += j + 2
		case c >= '0' && c <= '9':
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			out = append(out, token{"number", s[i:j]})
			i = j
		case c == '_' || unicode.IsLetter(rune(c)):
			j := i
			for j < len(s) && (s[j] == '_' || s[j] == '.' || unicode.IsLetter(rune(s[j])) || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			out = append(out, token{"ident", s[i:j]})
			i = j
		case strings.HasPrefix(s[i:], "<>") || strings.HasPrefix(s[i:], "<=") || strings.HasPrefix(s[i:], ">="):
			out = append(out, token{"op", s[i : i+2]})
			i += 2
		case strings.ContainsRune("*,()=<>", rune(c)):
			out = append(out, token{"op", string(c)})
			i++
		default:
			return nil, fmt.Errorf("%w: the character %q (arithmetic and other operators are not evaluated)", ErrUnsupported, c)
		}
	}
	return append(out, token{kind: "end"}), nil
}

type parser struct {
	toks []token
	pos  int
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token { t := p.toks[p.pos]; p.pos++; return t }

func (p *parser) keyword(k string) bool {
	if t := p.peek(); t.kind == "ident" && strings.EqualFold(t.text, k) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) op(o string) bool {
	if t := p.peek(); t.kind == "op" && t.text == o {
		p.pos++
		return true
	}
	return false
}

func (p *parser) query() (*Query, error) {
	if !p.keyword("SELECT") {
		return nil, errors.New("rules SQL: want SELECT first")
	}
	if t := p.peek(); t.kind == "ident" && (strings.EqualFold(t.text, "VALUE") || strings.EqualFold(t.text, "DISTINCT")) {
		return nil, fmt.Errorf("%w: SELECT %s", ErrUnsupported, t.text)
	}
	q := &Query{}
	for {
		if p.op("*") {
			q.items = append(q.items, item{all: true})
		} else {
			e, err := p.expr()
			if err != nil {
				return nil, err
			}
			it := item{e: e}
			if p.keyword("AS") {
				t := p.next()
				if t.kind != "ident" {
					return nil, fmt.Errorf("rules SQL: want a name after AS, got %q", t.text)
				}
				it.name = t.text
			} else if f, ok := e.(field); ok {
				it.name = f[len(f)-1]
			} else {
				return nil, fmt.Errorf("%w: a SELECT item that is not a field needs AS (its default name is not reproduced)", ErrUnsupported)
			}
			q.items = append(q.items, it)
		}
		if !p.op(",") {
			break
		}
	}
	if !p.keyword("FROM") {
		return nil, fmt.Errorf("rules SQL: want FROM after the SELECT list, got %q", p.peek().text)
	}
	t := p.next()
	if t.kind != "string" {
		return nil, errors.New("rules SQL: FROM takes a quoted topic filter")
	}
	q.From = t.text
	if p.keyword("WHERE") {
		w, err := p.or()
		if err != nil {
			return nil, err
		}
		q.where = w
	}
	if t := p.peek(); t.kind != "end" {
		return nil, fmt.Errorf("%w: %q after the statement", ErrUnsupported, t.text)
	}
	return q, nil
}

func (p *parser) or() (expr, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("OR") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = logic{"OR", l, r}
	}
	return l, nil
}

func (p *parser) and() (expr, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.keyword("AND") {
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = logic{"AND", l, r}
	}
	return l, nil
}

func (p *parser) not() (expr, error) {
	if p.keyword("NOT") {
		e, err := p.not()
		if err != nil {
			return nil, err
		}
		return logic{op: "NOT", l: e}, nil
	}
	if p.op("(") {
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.op(")") {
			return nil, errors.New("rules SQL: want )")
		}
		return e, nil
	}
	l, err := p.expr()
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind == "op" && comparisons[t.text] {
		p.pos++
		r, err := p.expr()
		if err != nil {
			return nil, err
		}
		return compare{t.text, l, r}, nil
	}
	return l, nil
}

var comparisons = map[string]bool{"=": true, "<>": true, "<": true, "<=": true, ">": true, ">=": true}

var functions = map[string][2]int{ // name → min, max arguments
	"topic": {0, 1}, "timestamp": {0, 0}, "clientid": {0, 0}, "principal": {0, 0},
	"newuuid": {0, 0}, "encode": {2, 2}, "get": {2, 2},
}

func (p *parser) expr() (expr, error) {
	t := p.next()
	switch t.kind {
	case "string":
		return literal{t.text}, nil
	case "number":
		f, err := strconv.ParseFloat(t.text, 64)
		if err != nil {
			return nil, fmt.Errorf("rules SQL: number %q: %w", t.text, err)
		}
		return literal{f}, nil
	case "ident":
		switch strings.ToLower(t.text) {
		case "true":
			return literal{true}, nil
		case "false":
			return literal{false}, nil
		}
		if !p.op("(") {
			return field(strings.Split(t.text, ".")), nil
		}
		name := strings.ToLower(t.text)
		limits, ok := functions[name]
		if !ok {
			return nil, fmt.Errorf("%w: function %s()", ErrUnsupported, t.text)
		}
		c := call{name: name}
		for !p.op(")") {
			if len(c.args) > 0 && !p.op(",") {
				return nil, fmt.Errorf("rules SQL: want , or ) in %s()", t.text)
			}
			if name == "encode" && len(c.args) == 0 && p.op("*") {
				c.args = append(c.args, star{})
				continue
			}
			a, err := p.expr()
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
		}
		if len(c.args) < limits[0] || len(c.args) > limits[1] {
			return nil, fmt.Errorf("rules SQL: %s() takes %d to %d arguments, got %d", t.text, limits[0], limits[1], len(c.args))
		}
		if name == "encode" {
			if l, ok := c.args[1].(literal); !ok || l.v != "base64" {
				return nil, fmt.Errorf("%w: encode() with an encoding other than 'base64'", ErrUnsupported)
			}
		}
		return c, nil
	}
	return nil, fmt.Errorf("rules SQL: unexpected %q", t.text)
}

// Substitution is an action field with substitution templates, e.g. the
// republish topic `alerts/${topic(2)}`: each ${expression} is evaluated on
// the message and written in its place.
type Substitution struct {
	text  []string // literal parts, one more than exprs
	exprs []expr
}

// ParseSubstitution parses s; an expression Parse would refuse is refused.
func ParseSubstitution(s string) (*Substitution, error) {
	sub := &Substitution{}
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			sub.text = append(sub.text, s)
			return sub, nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("substitution template %q: ${ without }", s)
		}
		toks, err := tokenize(s[i+2 : i+j])
		if err != nil {
			return nil, err
		}
		p := &parser{toks: toks}
		e, err := p.expr()
		if err != nil {
			return nil, fmt.Errorf("substitution template ${%s}: %w", s[i+2:i+j], err)
		}
		if t := p.peek(); t.kind != "end" {
			return nil, fmt.Errorf("%w: substitution template ${%s}: %q after the expression", ErrUnsupported, s[i+2:i+j], t.text)
		}
		sub.text = append(sub.text, s[:i])
		sub.exprs = append(sub.exprs, e)
		s = s[i+j+1:]
	}
}

// Expand evaluates the template on m; an undefined value expands to "".
func (sub *Substitution) Expand(m Message) string {
	e := &env{msg: m, tops: strings.Split(m.Topic, "/")}
	var doc map[string]any
	if json.Unmarshal(m.Payload, &doc) == nil {
		e.doc = doc
	}
	var b strings.Builder
	for i, t := range sub.text {
		b.WriteString(t)
		if i < len(sub.exprs) {
			switch v := sub.exprs[i].eval(e).(type) {
			case undefinedT:
			case string:
				b.WriteString(v)
			case float64:
				b.WriteString(strconv.FormatFloat(v, 'f', -1, 64))
			default:
				j, _ := json.Marshal(v)
				b.Write(j)
			}
		}
	}
	return b.String()
}
