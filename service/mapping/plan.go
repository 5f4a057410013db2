package mapping

import (
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	smartassistv1 "github.com/smartassist-bridge/smartassist-bridge/gen/smartassist/v1"
)

// kind is how a field's upstream JSON is read and written.
type kind uint8

const (
	kindUnsupported kind = iota // read nothing: the value goes to the catch-all
	kindString
	kindBool
	kindInt32
	kindInt64
	kindDouble
	kindTimestamp
	kindDuration
	kindValue  // google.protobuf.Value: any JSON
	kindStruct // google.protobuf.Struct: any JSON object
	kindMessage
)

// fieldPlan is what the transcoder needs to know about one field, worked
// out once per message type from its descriptor and options.
type fieldPlan struct {
	num  protowire.Number
	kind kind
	list bool
	msg  *messagePlan // for kindMessage
	key  string       // the upstream key, for the catch-all and error paths
	// next is the field whose key followed this one in the last document
	// where the guess missed. SmartAssist writes keys in a stable order, so
	// this turns most key lookups into one string comparison.
	next atomic.Pointer[fieldPlan]
}

// messagePlan maps the upstream keys of one message type to its fields.
type messagePlan struct {
	fields   map[string]*fieldPlan
	catchAll protowire.Number          // 0 when the message has none
	first    atomic.Pointer[fieldPlan] // the field whose key came first, as next
}

var plans sync.Map // protoreflect.FullName -> *messagePlan

// planFor returns the plan of a message type, building it (and the plans of
// the messages it contains) on first use.
func planFor(md protoreflect.MessageDescriptor) *messagePlan {
	if p, ok := plans.Load(md.FullName()); ok {
		return p.(*messagePlan)
	}
	building := map[protoreflect.FullName]*messagePlan{}
	buildPlan(md, building)
	for name, bp := range building {
		plans.LoadOrStore(name, bp)
	}
	p, _ := plans.Load(md.FullName())
	return p.(*messagePlan)
}

func buildPlan(md protoreflect.MessageDescriptor, building map[protoreflect.FullName]*messagePlan) *messagePlan {
	if p, ok := building[md.FullName()]; ok {
		return p // recursive message types share one plan
	}
	p := &messagePlan{fields: make(map[string]*fieldPlan, md.Fields().Len())}
	building[md.FullName()] = p
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if isCatchAll(fd) {
			p.catchAll = fd.Number()
			continue
		}
		fp := &fieldPlan{num: fd.Number(), list: fd.IsList(), kind: kindOf(fd), key: UpstreamKey(fd)}
		if fp.kind == kindMessage {
			fp.msg = buildPlan(fd.Message(), building)
		}
		p.fields[fp.key] = fp
	}
	return p
}

func isCatchAll(fd protoreflect.FieldDescriptor) bool {
	return proto.GetExtension(fd.Options(), smartassistv1.E_CatchAll).(bool) &&
		!fd.IsList() && fd.Message() != nil && fd.Message().FullName() == structName
}

// UpstreamKey returns the key a field has in SmartAssist's JSON: its
// (smartassist.v1.upstream_key) option, or else its JSON name.
func UpstreamKey(fd protoreflect.FieldDescriptor) string {
	if k := proto.GetExtension(fd.Options(), smartassistv1.E_UpstreamKey).(string); k != "" {
		return k
	}
	return fd.JSONName()
}

const (
	structName    protoreflect.FullName = "google.protobuf.Struct"
	valueName     protoreflect.FullName = "google.protobuf.Value"
	timestampName protoreflect.FullName = "google.protobuf.Timestamp"
	durationName  protoreflect.FullName = "google.protobuf.Duration"
)

// kindOf says how a field is read. Kinds the upstream JSON has no use for
// yet (maps, enums, unsigned and fixed-width integers, floats) are
// unsupported: their values are kept in the catch-all rather than guessed.
func kindOf(fd protoreflect.FieldDescriptor) kind {
	if fd.IsMap() {
		return kindUnsupported
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return kindString
	case protoreflect.BoolKind:
		return kindBool
	case protoreflect.Int32Kind:
		return kindInt32
	case protoreflect.Int64Kind:
		return kindInt64
	case protoreflect.DoubleKind:
		return kindDouble
	case protoreflect.MessageKind:
		switch fd.Message().FullName() {
		case timestampName:
			return kindTimestamp
		case durationName:
			return kindDuration
		case valueName:
			return kindValue
		case structName:
			return kindStruct
		}
		return kindMessage
	}
	return kindUnsupported
}
