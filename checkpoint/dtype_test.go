package checkpoint

import (
	"math"
	"testing"
)

func TestDTypeSize(t *testing.T) {
	tests := []struct {
		d       DType
		size    int
		isFloat bool
	}{
		{F64, 8, true}, {F32, 4, true}, {F16, 2, true}, {BF16, 2, true},
		{I64, 8, false}, {I32, 4, false}, {I16, 2, false}, {I8, 1, false},
		{U8, 1, false}, {BOOL, 1, false}, {"F8_E4M3", 0, false}, {"f32", 0, false},
	}
	for _, tt := range tests {
		if got := tt.d.Size(); got != tt.size {
			t.Errorf("%s.Size() = %d, want %d", tt.d, got, tt.size)
		}
		if got := tt.d.IsFloat(); got != tt.isFloat {
			t.Errorf("%s.IsFloat() = %v, want %v", tt.d, got, tt.isFloat)
		}
	}
}

func TestFloat32ToBF16(t *testing.T) {
	tests := []struct {
		name string
		in   uint32 // float32 bits
		want uint16
	}{
		{"one", 0x3f800000, 0x3f80},
		{"minus two", 0xc0000000, 0xc000},
		{"zero", 0, 0},
		{"negative zero", 0x80000000, 0x8000},
		{"below half rounds down", 0x3f807fff, 0x3f80},
		{"above half rounds up", 0x3f808001, 0x3f81},
		{"tie to even stays even", 0x3f808000, 0x3f80},
		{"tie to even rounds odd up", 0x3f818000, 0x3f82},
		{"negative tie to even", 0xbf818000, 0xbf82},
		{"carry into exponent", 0x3fffffff, 0x4000},
		{"max float32 rounds to inf", 0x7f7fffff, 0x7f80},
		{"largest bf16 stays", 0x7f7f0000, 0x7f7f},
		{"+inf", 0x7f800000, 0x7f80},
		{"-inf", 0xff800000, 0xff80},
		{"quiet nan", 0x7fc00000, 0x7fc0},
		{"nan with low payload only stays nan", 0x7f800001, 0x7fc0},
		{"negative nan keeps sign", 0xffc00001, 0xffc0},
		{"smallest subnormal rounds to zero", 0x00000001, 0x0000},
		{"subnormal tie rounds odd up to even", 0x00018000, 0x0002},
	}
	for _, tt := range tests {
		got := Float32ToBF16(math.Float32frombits(tt.in))
		if got != tt.want {
			t.Errorf("%s: Float32ToBF16(%#08x) = %#04x, want %#04x", tt.name, tt.in, got, tt.want)
		}
	}
}

func TestBF16RoundTrip(t *testing.T) {
	// Every bf16 value widens exactly and narrows back to itself (NaNs stay NaN).
	for h := 0; h < 1<<16; h++ {
		f := BF16ToFloat32(uint16(h))
		back := Float32ToBF16(f)
		if math.IsNaN(float64(f)) {
			if !math.IsNaN(float64(BF16ToFloat32(back))) || back&0x8000 != uint16(h)&0x8000 {
				t.Fatalf("bf16 NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("bf16 %#04x -> %v -> %#04x", h, f, back)
		}
	}
}

func TestF16Conversions(t *testing.T) {
	tests := []struct {
		name string
		f    float32
		h    uint16
	}{
		{"one", 1, 0x3c00},
		{"minus two", -2, 0xc000},
		{"zero", 0, 0},
		{"max finite 65504", 65504, 0x7bff},
		{"-65504", -65504, 0xfbff},
		{"smallest normal 2^-14", float32(math.Ldexp(1, -14)), 0x0400},
		{"smallest subnormal 2^-24", float32(math.Ldexp(1, -24)), 0x0001},
		{"largest subnormal", float32(math.Ldexp(1023, -24)), 0x03ff},
		{"subnormal 3·2^-24", float32(math.Ldexp(3, -24)), 0x0003},
		{"+inf", float32(math.Inf(1)), 0x7c00},
		{"-inf", float32(math.Inf(-1)), 0xfc00},
		{"one third", 1.0 / 3, 0x3555},
		{"pi", math.Pi, 0x4248},
	}
	for _, tt := range tests {
		if got := Float32ToF16(tt.f); got != tt.h {
			t.Errorf("%s: Float32ToF16(%v) = %#04x, want %#04x", tt.name, tt.f, got, tt.h)
		}
		if tt.name == "one third" || tt.name == "pi" {
			continue // inexact: only the narrowing is checked
		}
		if got := F16ToFloat32(tt.h); got != tt.f {
			t.Errorf("%s: F16ToFloat32(%#04x) = %v, want %v", tt.name, tt.h, got, tt.f)
		}
	}
	rounding := []struct {
		name string
		f    float64
		h    uint16
	}{
		{"65504 + just under half ulp stays", 65519.99, 0x7bff},
		{"65520 (tie) rounds to inf", 65520, 0x7c00},
		{"huge to inf", 1e10, 0x7c00},
		{"tie between 1 and next rounds to even 1", 1 + math.Ldexp(1, -11), 0x3c00},
		{"tie above odd rounds up", 1 + 3*math.Ldexp(1, -11), 0x3c02},
		{"half of smallest subnormal (tie) rounds to 0", math.Ldexp(1, -25), 0x0000},
		{"just over half of smallest subnormal rounds up", math.Ldexp(1, -25) * 1.0001, 0x0001},
		{"1.5 × smallest subnormal (tie) rounds to even 2", math.Ldexp(3, -25), 0x0002},
		{"2.5 × smallest subnormal (tie) rounds to even 2", math.Ldexp(5, -25), 0x0002},
		{"far below subnormals", 1e-30, 0x0000},
		{"negative far below keeps sign", -1e-30, 0x8000},
		{"subnormal carries into smallest normal", math.Ldexp(1023.5, -24), 0x0400},
		{"float32 subnormal to zero", float64(math.Float32frombits(1)), 0x0000},
	}
	for _, tt := range rounding {
		if got := Float32ToF16(float32(tt.f)); got != tt.h {
			t.Errorf("%s: Float32ToF16(%g) = %#04x, want %#04x", tt.name, tt.f, got, tt.h)
		}
	}
	for _, nan := range []uint32{0x7fc00000, 0x7f800001, 0xffc00000, 0x7fbfffff} {
		h := Float32ToF16(math.Float32frombits(nan))
		if h&0x7c00 != 0x7c00 || h&0x3ff == 0 || h>>15 != uint16(nan>>31) {
			t.Errorf("Float32ToF16(NaN %#08x) = %#04x, not a NaN of the same sign", nan, h)
		}
	}
}

func TestF16RoundTrip(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToFloat32(uint16(h))
		back := Float32ToF16(f)
		if math.IsNaN(float64(f)) {
			if !math.IsNaN(float64(F16ToFloat32(back))) {
				t.Fatalf("f16 NaN %#04x came back as %#04x", h, back)
			}
			continue
		}
		if back != uint16(h) {
			t.Fatalf("f16 %#04x -> %v -> %#04x", h, f, back)
		}
	}
}

// TestF16NearestEven checks Float32ToF16 against a slow reference: the
// nearest of the two neighbouring halves, ties to the even one.
func TestF16NearestEven(t *testing.T) {
	// All halves in increasing order of value, positive finite ones.
	for h := uint16(0); h < 0x7bff; h++ {
		lo, hi := float64(F16ToFloat32(h)), float64(F16ToFloat32(h+1))
		for _, frac := range []float64{0.25, 0.5, 0.75} {
			x := float32(lo + frac*(hi-lo))
			if float64(x) <= lo || float64(x) >= hi {
				continue
			}
			want := h
			switch {
			case float64(x)-lo > hi-float64(x):
				want = h + 1
			case float64(x)-lo == hi-float64(x) && h&1 == 1:
				want = h + 1
			}
			if got := Float32ToF16(x); got != want {
				t.Fatalf("Float32ToF16(%v) between %#04x and %#04x = %#04x, want %#04x", x, h, h+1, got, want)
			}
			if got := Float32ToF16(-x); got != want|0x8000 {
				t.Fatalf("Float32ToF16(%v) = %#04x, want %#04x", -x, got, want|0x8000)
			}
		}
	}
}

func TestDecodeBF16Tails(t *testing.T) {
	// Lengths around the 4-element unrolling, against the scalar conversion.
	for n := 0; n <= 9; n++ {
		src := make([]byte, 2*n)
		for i := range src {
			src[i] = byte(37*i + 11)
		}
		dst := make([]float32, n)
		if err := decodeFloat32(BF16, src, dst); err != nil {
			t.Fatal(err)
		}
		for i := range dst {
			want := BF16ToFloat32(uint16(src[2*i]) | uint16(src[2*i+1])<<8)
			if math.Float32bits(dst[i]) != math.Float32bits(want) {
				t.Fatalf("n=%d: element %d = %v, want %v", n, i, dst[i], want)
			}
		}
	}
}
