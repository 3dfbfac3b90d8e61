package ktstr_test

import (
	"testing"

	"github.com/ktstr-go/ktstr"
)

func TestMain(m *testing.M) { ktstr.Main(m) }
