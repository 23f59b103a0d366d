package shadow

// ClientToken is the request's clientToken ("" when none), echoed in every
// answer.
func (r *Request) ClientToken() string { return r.clientToken }

// ExpectedVersion is the request's version, when it carries one.
func (r *Request) ExpectedVersion() (int64, bool) { return r.version, r.hasVersion }

// DeltaDocument is the /update/delta message after an update that set
// desired fields (req), or nil when none is due: AWS publishes a delta only
// when the update wrote desired state and desired and reported differ.
func DeltaDocument(req *Request, next *Record, ts int64) []byte {
	if req.desired.value == nil {
		return nil
	}
	d := delta(next.State.Desired, next.State.Reported)
	if d == nil {
		return nil
	}
	return Marshal(deltaMessage{
		State: d, Metadata: deltaMetadata(d, next.Metadata.Desired),
		Version: next.Version, Timestamp: ts, ClientToken: req.clientToken,
	})
}

// DeleteAcceptedDocument is the /delete/accepted document.
func DeleteAcceptedDocument(version, ts int64, token string) []byte {
	return Marshal(deleteAccepted{Version: version, Timestamp: ts, ClientToken: token})
}

// Tombstone is the record of a deleted shadow: it keeps the version, so a
// shadow created again continues from it.
func Tombstone(version int64) *Record { return &Record{Version: version, Deleted: true} }

// CheckDelete is the rejection of a delete request by cur, nil when it
// may proceed: 404 for a shadow that does not exist, 409 for a version
// other than the current one.
func CheckDelete(cur *Record, req *Request, thing, name string) *Error {
	if !cur.Exists() {
		return NotFound(thing, name)
	}
	if req.hasVersion && req.version != cur.Version {
		return Conflict()
	}
	return nil
}
