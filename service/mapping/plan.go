package mapping

import (
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

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

// fieldPlan is what the decoder needs to know about one field, worked out
// once per message type from its descriptor and options (and, for the
// direct path, from its generated struct).
type fieldPlan struct {
	key      string // the upstream key, for the catch-all and error paths
	num      protowire.Number
	kind     kind
	list     bool
	optional bool         // a scalar with presence: a pointer in the struct
	msg      *messagePlan // for kindMessage
	off      uintptr      // the field's offset in its generated struct
	// next is the field whose key followed this one in the last document
	// where the guess missed. SmartAssist writes keys in a stable order, so
	// this turns most key lookups into one string comparison.
	next atomic.Pointer[fieldPlan]
}

// messagePlan maps the upstream keys of one message type to its fields.
type messagePlan struct {
	fields   map[string]*fieldPlan
	first    atomic.Pointer[fieldPlan] // the field whose key came first, as next
	catchAll protowire.Number          // 0 when the message has none
	// goType is the generated struct the direct path writes, or nil when
	// this message, or one it contains, cannot be written directly.
	goType      reflect.Type
	catchAllOff uintptr
}

// lookup returns the field of key k (nil for a key the message does not
// model). learn walks the learned key order: it is advanced past the field
// found, or set to nil by an unknown key until the next object.
func (p *messagePlan) lookup(k []byte, learn **atomic.Pointer[fieldPlan]) *fieldPlan {
	if *learn != nil {
		if guess := (*learn).Load(); guess != nil && guess.key == string(k) {
			*learn = &guess.next
			return guess
		}
	}
	f := p.fields[string(k)]
	if f == nil {
		*learn = nil
		return nil
	}
	if *learn != nil {
		(*learn).Store(f)
	}
	*learn = &f.next
	return f
}

var plans sync.Map // protoreflect.FullName -> *messagePlan

// planFor returns the plan of a message type, building it (and the plans of
// the messages it contains) on first use.
func planFor(md protoreflect.MessageDescriptor) *messagePlan {
	if p, ok := plans.Load(md.FullName()); ok {
		return p.(*messagePlan)
	}
	building := map[protoreflect.FullName]*messagePlan{}
	root := buildPlan(md, building)
	if mt, err := protoregistry.GlobalTypes.FindMessageByName(md.FullName()); err == nil {
		attachStruct(root, md, reflect.TypeOf(mt.Zero().Interface()), map[*messagePlan]bool{})
	}
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
		fp := &fieldPlan{num: fd.Number(), list: fd.IsList(), kind: kindOf(fd), key: UpstreamKey(fd),
			optional: fd.HasPresence() && fd.Message() == nil}
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

var (
	timestampType = reflect.TypeFor[*timestamppb.Timestamp]()
	durationType  = reflect.TypeFor[*durationpb.Duration]()
	valueType     = reflect.TypeFor[*structpb.Value]()
	structType    = reflect.TypeFor[*structpb.Struct]()
)

// attachStruct records where each field of p lives in the generated struct
// *T (ptr), checking every Go type against the descriptor, and reports
// whether p (and everything it contains) can be written directly. Where it
// cannot, p.goType stays nil and such messages take the wire path.
func attachStruct(p *messagePlan, md protoreflect.MessageDescriptor, ptr reflect.Type, visiting map[*messagePlan]bool) bool {
	if visiting[p] {
		return true // a recursive type: judged where the recursion started
	}
	visiting[p] = true
	if ptr.Kind() != reflect.Pointer || ptr.Elem().Kind() != reflect.Struct {
		return false
	}
	st := ptr.Elem()
	byNumber := map[protoreflect.FieldNumber]reflect.StructField{}
	for i := range st.NumField() {
		sf := st.Field(i)
		if _, oneof := sf.Tag.Lookup("protobuf_oneof"); oneof {
			return false // oneofs are not written directly
		}
		tag, ok := sf.Tag.Lookup("protobuf")
		if !ok {
			continue
		}
		parts := strings.Split(tag, ",")
		if len(parts) < 2 {
			return false
		}
		n, err := strconv.Atoi(parts[1])
		if err != nil {
			return false
		}
		byNumber[protoreflect.FieldNumber(n)] = sf
	}
	fields := md.Fields()
	if len(byNumber) != fields.Len() {
		return false
	}
	if p.catchAll != 0 {
		sf, ok := byNumber[p.catchAll]
		if !ok || sf.Type != structType {
			return false
		}
		p.catchAllOff = sf.Offset
	}
	for _, f := range p.fields {
		sf, ok := byNumber[f.num]
		if !ok || !goTypeFits(f, sf.Type) {
			return false
		}
		f.off = sf.Offset
		if f.kind == kindMessage {
			elem := sf.Type
			if f.list {
				elem = elem.Elem()
			}
			if !attachStruct(f.msg, md.Fields().ByNumber(f.num).Message(), elem, visiting) {
				return false
			}
		}
	}
	p.goType = st
	return true
}

// goTypeFits checks that the Go type of a struct field is what the direct
// writers assume for its kind.
func goTypeFits(f *fieldPlan, t reflect.Type) bool {
	if f.list {
		if t.Kind() != reflect.Slice {
			return false
		}
		t = t.Elem()
	} else if f.optional {
		if t.Kind() != reflect.Pointer {
			return false
		}
		t = t.Elem()
	}
	switch f.kind {
	case kindString:
		return t.Kind() == reflect.String
	case kindBool:
		return t.Kind() == reflect.Bool
	case kindInt32:
		return t.Kind() == reflect.Int32
	case kindInt64:
		return t.Kind() == reflect.Int64
	case kindDouble:
		return t.Kind() == reflect.Float64
	case kindTimestamp:
		return t == timestampType
	case kindDuration:
		return t == durationType
	case kindValue:
		return t == valueType
	case kindStruct:
		return t == structType && !f.list
	case kindMessage:
		return t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct
	case kindUnsupported:
		return true // never written: its values go to the catch-all
	}
	return false
}

// directFor returns m's plan when m can be written directly: m is the
// generated struct of a message whose plan has one.
func directFor(m proto.Message) (*messagePlan, bool) {
	p := planFor(m.ProtoReflect().Descriptor())
	if p.goType == nil || reflect.TypeOf(m) != reflect.PointerTo(p.goType) {
		return p, false
	}
	return p, true
}
