package shadowsync

import (
	"encoding/json"

	shadowdoc "github.com/sward-iot/sward/shared/shadow"
)

// object is a shadow section or a nested object of one, decoded with
// UseNumber so numbers keep their text.
type object = map[string]any

// owner is the side whose value is kept when both sides changed the same
// key since the last sync.
type owner int

const (
	ownerLocal owner = iota
	ownerCloud
)

// merge3 is the three-way merge of one section (desired or reported):
// local and cloud against base, the section as last synced. A key changed
// (or added, or deleted) on one side only takes that side's value; a key
// changed on both sides takes win's; objects on both sides merge key by
// key, so changes to different keys of one object are both kept. nil
// sections are empty.
func merge3(local, cloud, base object, win owner) object {
	out := object{}
	for _, k := range union(local, cloud) {
		lv, lok := local[k]
		cv, cok := cloud[k]
		bv, bok := base[k]
		lo, lIsObj := lv.(object)
		co, cIsObj := cv.(object)
		if lIsObj && cIsObj {
			bo, _ := bv.(object) // nil when base had no object here: both added keys
			out[k] = merge3(lo, co, bo, win)
			continue
		}
		localChanged := lok != bok || lok && !shadowdoc.Equal(lv, bv)
		cloudChanged := cok != bok || cok && !shadowdoc.Equal(cv, bv)
		takeLocal := win == ownerLocal
		switch {
		case localChanged && !cloudChanged:
			takeLocal = true
		case cloudChanged && !localChanged:
			takeLocal = false
		}
		if takeLocal && lok {
			out[k] = lv
		} else if !takeLocal && cok {
			out[k] = cv
		}
	}
	return out
}

// overwrite is a one-way sync's target section: every key of the source
// takes the source's value (objects merge key by key), a key the source
// deleted since the last sync (in base, not in source) is deleted, and a
// key only the target ever had is kept.
func overwrite(source, target, base object) object {
	out := object{}
	for k, tv := range target {
		if _, inSource := source[k]; inSource {
			continue
		}
		if _, synced := base[k]; !synced {
			out[k] = tv
		}
	}
	for k, sv := range source {
		so, sIsObj := sv.(object)
		to, tIsObj := target[k].(object)
		if sIsObj && tIsObj {
			bo, _ := base[k].(object)
			out[k] = overwrite(so, to, bo)
			continue
		}
		out[k] = sv
	}
	return out
}

// diff is the update that turns cur into want: keys of cur missing from
// want are null (deleted), keys with another value in want take it,
// objects on both sides are compared key by key. nil when cur already is
// want.
func diff(cur, want object) object {
	patch := object{}
	for k := range cur {
		if _, ok := want[k]; !ok {
			patch[k] = nil
		}
	}
	for k, wv := range want {
		cv, ok := cur[k]
		co, cIsObj := cv.(object)
		wo, wIsObj := wv.(object)
		switch {
		case ok && cIsObj && wIsObj:
			if sub := diff(co, wo); sub != nil {
				patch[k] = sub
			}
		case !ok || !shadowdoc.Equal(cv, wv):
			patch[k] = wv
		}
	}
	if len(patch) == 0 {
		return nil
	}
	return patch
}

func union(a, b object) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// state is a shadow's two sections.
type state struct {
	Desired  object `json:"desired,omitempty"`
	Reported object `json:"reported,omitempty"`
}

// updateDocument is the AWS update request that turns cur into want, nil
// when there is nothing to change. version > 0 makes it conditional.
func updateDocument(cur, want state, version int64, token string) []byte {
	d, r := diff(cur.Desired, want.Desired), diff(cur.Reported, want.Reported)
	if d == nil && r == nil {
		return nil
	}
	st := object{}
	if d != nil {
		st["desired"] = d
	}
	if r != nil {
		st["reported"] = r
	}
	req := object{"state": st}
	if version > 0 {
		req["version"] = version
	}
	if token != "" {
		req["clientToken"] = token
	}
	b, _ := json.Marshal(req) // built from decoded JSON: always encodable
	return b
}
