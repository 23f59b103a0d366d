package shadowsync

import "github.com/sward-iot/sward/edge/shadow"

// plan is what one sync writes: the state each side should have (want),
// which side is written or deleted, and the record kept afterwards (its
// versions are the sides' as read; pass replaces a written side's with
// the version the write got).
type plan struct {
	noop                    bool
	want                    state
	cloudWrite, cloudDelete bool
	localWrite, localDelete bool
	record                  record
}

// decide is the sync algorithm, without I/O. rec is the record of the
// last sync (nil: never synced). A side "changed" when its existence or
// version differs from the record's.
//
// betweenDeviceAndCloud:
//   - neither side changed: nothing.
//   - both exist: a three-way merge of each section against the record's
//     state; a key changed on both sides goes to the cloud's value in
//     desired and to the device's in reported (Greengrass's rule); the
//     result is written to whichever side lacks it.
//   - one side was deleted since the last sync and the other did not
//     change: the other is deleted too. If the other did change (or this
//     is the first sync), the change wins: the deleted side is created
//     again from it.
//
// deviceToCloud and cloudToDevice: only a change of the source side
// syncs. The source deleted since the last sync: the target is deleted.
// Otherwise the target takes every key of the source (a conflict goes to
// the source), loses the keys the source deleted since the last sync and
// keeps the keys only it ever had. The other side's changes are never
// written back. A first sync with no source shadow deletes nothing.
func decide(dir Direction, rec *record, local, cloud shadow.Snapshot) plan {
	first := rec == nil
	if first {
		rec = &record{}
	}
	localChanged := first || local.Exists != rec.LocalExists || local.Exists && local.Version != rec.LocalVersion
	cloudChanged := first || cloud.Exists != rec.CloudExists || cloud.Exists && cloud.Version != rec.CloudVersion
	p := plan{record: record{LocalExists: local.Exists, LocalVersion: local.Version,
		CloudExists: cloud.Exists, CloudVersion: cloud.Version, State: rec.State}}
	base := rec.State
	switch dir {
	case DeviceToCloud:
		p.oneWay(localChanged, first, local, cloud, base, &p.cloudWrite, &p.cloudDelete)
	case CloudToDevice:
		p.oneWay(cloudChanged, first, cloud, local, base, &p.localWrite, &p.localDelete)
	default:
		switch {
		case !localChanged && !cloudChanged:
			p.noop = true
		case !local.Exists && !cloud.Exists:
			p.record.State = state{}
		case !local.Exists:
			if localChanged && !cloudChanged && !first {
				p.cloudDelete = true
				p.record.State = state{}
			} else {
				p.want, p.localWrite = asState(cloud), true
				p.record.State = p.want
			}
		case !cloud.Exists:
			if cloudChanged && !localChanged && !first {
				p.localDelete = true
				p.record.State = state{}
			} else {
				p.want, p.cloudWrite = asState(local), true
				p.record.State = p.want
			}
		default:
			p.want = state{
				Desired:  merge3(local.Desired, cloud.Desired, base.Desired, ownerCloud),
				Reported: merge3(local.Reported, cloud.Reported, base.Reported, ownerLocal),
			}
			p.cloudWrite, p.localWrite = true, true
			p.record.State = p.want
		}
	}
	return p
}

// oneWay plans a one-way sync from source to target.
func (p *plan) oneWay(sourceChanged, first bool, source, target shadow.Snapshot, base state, write, del *bool) {
	switch {
	case !sourceChanged:
		p.noop = true
	case !source.Exists:
		if target.Exists && !first {
			*del = true
		}
		p.record.State = state{}
	default:
		p.want = asState(source)
		if target.Exists {
			p.want = state{
				Desired:  overwrite(source.Desired, target.Desired, base.Desired),
				Reported: overwrite(source.Reported, target.Reported, base.Reported),
			}
		}
		*write = true
		p.record.State = asState(source)
	}
}
