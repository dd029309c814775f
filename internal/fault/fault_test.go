package fault

import (
	"errors"
	"fmt"
	"testing"
)

func TestKindOf(t *testing.T) {
	cause := errors.New("disk on fire")
	e := &Error{Kind: KindNotFound, Code: "not_found", Message: "not found", Err: cause}
	if got := KindOf(fmt.Errorf("wrapped: %w", e)); got != KindNotFound {
		t.Errorf("KindOf(wrapped) = %v, want KindNotFound", got)
	}
	if got := KindOf(cause); got != KindInternal {
		t.Errorf("KindOf(plain) = %v, want KindInternal", got)
	}
	if !errors.Is(e, cause) {
		t.Error("Error does not unwrap to its cause")
	}
}
