package iotcore

import "testing"

func TestPendingDeliversAnAnswerOnlyToTheRequestOfItsToken(t *testing.T) {
	var p Pending[string]
	a, aCh, aDone := p.Add()
	b, bCh, bDone := p.Add()
	defer aDone()
	defer bDone()
	if a == b || len(a) != 24 {
		t.Fatalf("tokens %q and %q: want two different random ones", a, b)
	}
	if p.Answer("sward-other-process", "x") {
		t.Error("an answer to an unknown token was delivered")
	}
	if !p.Answer(b, "for b") {
		t.Fatal("the answer to b was not delivered")
	}
	if got := <-bCh; got != "for b" {
		t.Errorf("b got %q", got)
	}
	if p.Answer(b, "again") {
		t.Error("a second answer to b was delivered")
	}
	select {
	case got := <-aCh:
		t.Errorf("a got %q, meant for b", got)
	default:
	}
	aDone()
	if p.Answer(a, "late") {
		t.Error("an answer after done was delivered")
	}
}
