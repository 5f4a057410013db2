package mapping

import (
	"reflect"
	"strconv"
	"unsafe"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The direct path writes decoded values straight into the fields of the
// generated Go structs, at offsets worked out once per message type from
// the descriptors and the structs' protobuf tags. It does what the wire
// path (transcode, then proto.Unmarshal) does, without the round trip
// through wire format, and is several times cheaper on large
// conversations. Every Go type it writes is checked against the field's
// descriptor when the plan is built; a message type whose generated struct
// does not have the expected shape (dynamicpb, or a future code generator)
// has no direct plan and goes the wire path instead. Both paths are held
// to the same output by a differential fuzz test.

// direct decodes JSON into generated structs.
type direct struct{ s scanner }

// object reads the object at the scanner into the struct at base.
func (d *direct) object(p *messagePlan, base unsafe.Pointer) error {
	s := &d.s
	learn := &p.first
	return s.members(func(k []byte, keyAt int) error {
		f := p.lookup(k, &learn)
		if f == nil {
			key := s.intern(k)
			v, err := d.value()
			if err != nil {
				return within(err, "."+key)
			}
			d.putUnmapped(p, base, key, v)
			return nil
		}
		start, depth := s.pos, s.depth
		fits, err := d.field(f, unsafe.Add(base, f.off))
		if err != nil {
			return within(err, "."+f.key)
		}
		if fits {
			if p.catchAll != 0 {
				if all := *(**structpb.Struct)(unsafe.Add(base, p.catchAllOff)); all != nil {
					delete(all.Fields, f.key) // a repeated key: the last one wins
				}
			}
			return nil
		}
		clearField(f, unsafe.Add(base, f.off))
		s.pos, s.depth = start, depth
		v, err := d.value()
		if err != nil {
			return within(err, "."+f.key)
		}
		d.putUnmapped(p, base, f.key, v)
		return nil
	})
}

func (d *direct) putUnmapped(p *messagePlan, base unsafe.Pointer, key string, v *structpb.Value) {
	if p.catchAll == 0 {
		return
	}
	all := (**structpb.Struct)(unsafe.Add(base, p.catchAllOff))
	if *all == nil {
		*all = &structpb.Struct{Fields: map[string]*structpb.Value{}}
	}
	(*all).Fields[key] = v
}

// clearField gives a field its zero value again, after a read that did not
// fit (or before a repeated key replaces it).
func clearField(f *fieldPlan, ptr unsafe.Pointer) {
	switch {
	case f.list && f.kind == kindString:
		*(*[]string)(ptr) = nil
	case f.list && f.kind == kindBool:
		*(*[]bool)(ptr) = nil
	case f.list && f.kind == kindInt32:
		*(*[]int32)(ptr) = nil
	case f.list && f.kind == kindInt64:
		*(*[]int64)(ptr) = nil
	case f.list && f.kind == kindDouble:
		*(*[]float64)(ptr) = nil
	case f.list:
		*(*[]unsafe.Pointer)(ptr) = nil // a slice of pointers, whatever to
	case f.optional, f.kind >= kindTimestamp:
		*(*unsafe.Pointer)(ptr) = nil
	case f.kind == kindString:
		*(*string)(ptr) = ""
	case f.kind == kindBool:
		*(*bool)(ptr) = false
	case f.kind == kindInt32:
		*(*int32)(ptr) = 0
	case f.kind == kindInt64:
		*(*int64)(ptr) = 0
	case f.kind == kindDouble:
		*(*float64)(ptr) = 0
	}
}

// field reads the value at the scanner into the field at ptr, reporting
// fits=false when it is not of the field's type.
func (d *direct) field(f *fieldPlan, ptr unsafe.Pointer) (fits bool, err error) {
	s := &d.s
	c := s.peek()
	clearField(f, ptr) // a repeated key replaces, it does not merge
	if c == 'n' {
		return true, s.literal("null") // null means "not set"
	}
	if f.list {
		if c != '[' {
			return false, nil
		}
		return d.list(f, ptr)
	}
	switch f.kind {
	case kindMessage:
		if c != '{' {
			return false, nil
		}
		obj := reflect.New(f.msg.goType).UnsafePointer()
		*(*unsafe.Pointer)(ptr) = obj
		return true, d.object(f.msg, obj)
	case kindUnsupported:
		return false, nil
	}
	return d.scalar(f, ptr, c)
}

func (d *direct) list(f *fieldPlan, ptr unsafe.Pointer) (fits bool, err error) {
	s := &d.s
	return s.list(func(c byte) (bool, error) {
		switch f.kind {
		case kindMessage:
			if c != '{' {
				return false, nil
			}
			obj := reflect.New(f.msg.goType).UnsafePointer()
			sl := (*[]unsafe.Pointer)(ptr)
			*sl = append(*sl, obj)
			return true, d.object(f.msg, obj)
		case kindString:
			if c != '"' {
				return false, nil
			}
			str, err := s.str()
			sl := (*[]string)(ptr)
			*sl = append(*sl, str)
			return err == nil, err
		case kindTimestamp, kindDuration, kindValue:
			var elem unsafe.Pointer
			fits, err := d.scalar(f, unsafe.Pointer(&elem), c)
			if fits && err == nil {
				sl := (*[]unsafe.Pointer)(ptr)
				*sl = append(*sl, elem)
			}
			return fits, err
		}
		// Repeated bools and numbers have no use upstream yet; their
		// values are kept in the catch-all.
		return false, nil
	})
}

// scalar reads a value of a non-message kind (or a well-known type that is
// a value in JSON) into ptr: the field itself, or for a list element a
// pointer-sized slot. Optional scalars get a freshly allocated value.
func (d *direct) scalar(f *fieldPlan, ptr unsafe.Pointer, c byte) (fits bool, err error) {
	s := &d.s
	switch f.kind {
	case kindString:
		if c != '"' {
			return false, nil
		}
		str, err := s.str()
		if err != nil {
			return false, err
		}
		if f.optional {
			// A fresh variable: taking str's address would move every
			// string read here to the heap, optional or not.
			heap := str
			*(**string)(ptr) = &heap
		} else {
			*(*string)(ptr) = str
		}
		return true, nil
	case kindBool:
		v, fits, err := readBool(s, c)
		if !fits || err != nil {
			return false, err
		}
		if f.optional {
			heap := v
			*(**bool)(ptr) = &heap
		} else {
			*(*bool)(ptr) = v
		}
		return true, nil
	case kindInt32, kindInt64:
		n, fits, err := readInt(s, c, f.kind == kindInt32)
		if !fits || err != nil {
			return false, err
		}
		switch {
		case f.kind == kindInt64 && f.optional:
			heap := n
			*(**int64)(ptr) = &heap
		case f.kind == kindInt64:
			*(*int64)(ptr) = n
		case f.optional:
			v := int32(n)
			*(**int32)(ptr) = &v
		default:
			*(*int32)(ptr) = int32(n)
		}
		return true, nil
	case kindDouble:
		v, fits, err := readDouble(s, c)
		if !fits || err != nil {
			return false, err
		}
		if f.optional {
			heap := v
			*(**float64)(ptr) = &heap
		} else {
			*(*float64)(ptr) = v
		}
		return true, nil
	case kindTimestamp:
		sec, nsec, fits, err := readInstant(s, c)
		if !fits || err != nil {
			return false, err
		}
		*(**timestamppb.Timestamp)(ptr) = &timestamppb.Timestamp{Seconds: sec, Nanos: nsec}
		return true, nil
	case kindDuration:
		sec, nsec, fits, err := readMillis(s, c)
		if !fits || err != nil {
			return false, err
		}
		*(**durationpb.Duration)(ptr) = &durationpb.Duration{Seconds: sec, Nanos: nsec}
		return true, nil
	case kindValue:
		v, err := d.value()
		if err != nil {
			return false, err
		}
		*(**structpb.Value)(ptr) = v
		return true, nil
	case kindStruct:
		if c != '{' {
			return false, nil
		}
		st, err := d.structValue()
		if err != nil {
			return false, err
		}
		*(**structpb.Struct)(ptr) = st
		return true, nil
	}
	return false, nil
}

// value reads any JSON value as a google.protobuf.Value, with the number
// rule of the wire path (exactDouble).
func (d *direct) value() (*structpb.Value, error) {
	s := &d.s
	switch c := s.peek(); {
	case c == '{':
		st, err := d.structValue()
		if err != nil {
			return nil, err
		}
		return &structpb.Value{Kind: &structpb.Value_StructValue{StructValue: st}}, nil
	case c == '[':
		lv := &structpb.ListValue{}
		err := s.elements(func(i int) error {
			v, err := d.value()
			if err != nil {
				return within(err, "["+strconv.Itoa(i)+"]")
			}
			lv.Values = append(lv.Values, v)
			return nil
		})
		if err != nil {
			return nil, err
		}
		return &structpb.Value{Kind: &structpb.Value_ListValue{ListValue: lv}}, nil
	case c == '"':
		str, err := s.str()
		if err != nil {
			return nil, err
		}
		return &structpb.Value{Kind: &structpb.Value_StringValue{StringValue: str}}, nil
	case c == 't' || c == 'f':
		v, _, err := readBool(s, c)
		return &structpb.Value{Kind: &structpb.Value_BoolValue{BoolValue: v}}, err
	case c == 'n':
		return &structpb.Value{Kind: &structpb.Value_NullValue{}}, s.literal("null")
	case c == '-' || isDigit(c):
		lit, err := s.number()
		if err != nil {
			return nil, err
		}
		if f, ok := exactDouble(lit); ok {
			return &structpb.Value{Kind: &structpb.Value_NumberValue{NumberValue: f}}, nil
		}
		return &structpb.Value{Kind: &structpb.Value_StringValue{StringValue: s.intern(lit)}}, nil
	default:
		return nil, s.errorf(s.pos, "expected a JSON value, found %s", s.describe(s.pos))
	}
}

func (d *direct) structValue() (*structpb.Struct, error) {
	s := &d.s
	st := &structpb.Struct{Fields: map[string]*structpb.Value{}}
	err := s.members(func(k []byte, keyAt int) error {
		key := s.intern(k)
		v, err := d.value()
		if err != nil {
			return within(err, "."+key)
		}
		st.Fields[key] = v
		return nil
	})
	return st, err
}
