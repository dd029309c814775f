package service

import "testing"

// TestCleanName: names that would reorder the text around them, or show
// as nothing, are refused; ordinary names in any script pass.
func TestCleanName(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"plain", "Front door", true},
		{"accents and scripts", "Café · 玄関 · باب", true},
		{"emoji with joiner", "👨‍👩‍👧 room", true},
		{"trimmed", "  Porch  ", true},
		{"right-to-left override", "Porch\u202egpj.exe", false},
		{"left-to-right embedding", "\u202aPorch", false},
		{"pop directional formatting", "Porch\u202c", false},
		{"right-to-left isolate", "Porch\u2067x", false},
		{"pop directional isolate", "Porch\u2069", false},
		{"first strong isolate", "\u2068Porch", false},
		{"only zero-width space", "\u200b", false},
		{"only zero-width joiners", "\u200d\u200c\u2060", false},
		{"only byte-order mark", "\ufeff\ufeff", false},
		{"only hangul filler", "\u3164", false},
		{"only braille blank", "\u2800", false},
		{"only combining marks", "\u0301\u0302", false},
		{"only variation selectors", "\ufe0f", false},
		{"C1 control", "Por\u0085ch", false},
		{"empty", "   ", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cleanName(tc.in, "camera name")
			if (err == nil) != tc.ok {
				t.Fatalf("cleanName(%q) = %q, %v; want ok=%v", tc.in, got, err, tc.ok)
			}
		})
	}
}
