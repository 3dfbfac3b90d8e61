package verify

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Bool is a setting that can be left unset (inherit), or set on or off. Its
// zero value is unset.
type Bool int8

// Bool values.
const (
	Inherit Bool = iota // unset: inherit from the level below
	On                  // set, true
	Off                 // set, false
)

// Set reports whether b was set at this level.
func (b Bool) Set() bool { return b == On || b == Off }

// Or returns b if it is set, else def.
func (b Bool) Or(def Bool) Bool {
	if b.Set() {
		return b
	}
	return def
}

// True reports whether b is On.
func (b Bool) True() bool { return b == On }

func (b Bool) String() string {
	switch b {
	case On:
		return "on"
	case Off:
		return "off"
	case Inherit:
		return "inherit"
	}
	return fmt.Sprintf("Bool(%d)", int8(b))
}

// Threshold is a limit of a check: unset (inherit from the level below),
// a value, or explicitly disabled. Its zero value is unset.
type Threshold struct {
	v     float64
	state int8 // 0 unset, 1 value, 2 disabled
}

// Val returns a threshold set to v.
func Val(v float64) Threshold { return Threshold{v: v, state: 1} }

// Disabled switches a check off at the level where it is set.
var Disabled = Threshold{state: 2}

// Set reports whether t was set (to a value or disabled) at this level.
func (t Threshold) Set() bool { return t.state != 0 }

// Enabled reports whether t holds a value.
func (t Threshold) Enabled() bool { return t.state == 1 }

// Value returns the limit and whether there is one.
func (t Threshold) Value() (float64, bool) { return t.v, t.state == 1 }

// Or returns t if it is set, else def.
func (t Threshold) Or(def Threshold) Threshold {
	if t.Set() {
		return t
	}
	return def
}

func (t Threshold) String() string {
	switch t.state {
	case 1:
		return strconv.FormatFloat(t.v, 'g', -1, 64)
	case 2:
		return "disabled"
	}
	return "inherit"
}

// MarshalJSON encodes a value as a number, disabled as false and unset as
// null.
func (t Threshold) MarshalJSON() ([]byte, error) {
	switch t.state {
	case 1:
		return json.Marshal(t.v)
	case 2:
		return []byte("false"), nil
	}
	return []byte("null"), nil
}

// UnmarshalJSON is the inverse of MarshalJSON.
func (t *Threshold) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "null":
		*t = Threshold{}
		return nil
	case "false":
		*t = Disabled
		return nil
	}
	var v float64
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("threshold: %w", err)
	}
	*t = Val(v)
	return nil
}
