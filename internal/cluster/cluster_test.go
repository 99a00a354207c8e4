package cluster

import (
	"strings"
	"testing"
)

func TestGefionPreset(t *testing.T) {
	c, err := Preset("gefion")
	if err != nil {
		t.Fatal(err)
	}
	inf := c.Info()
	if inf.Nodes != 191 || inf.GPUs != 1528 || inf.ScalableUnits != 6 {
		t.Errorf("gefion: %d nodes, %d GPUs, %d SUs; want 191, 1528, 6", inf.Nodes, inf.GPUs, inf.ScalableUnits)
	}
	if inf.PeakFP8SparseEF != 6.05 || inf.PeakFP8DenseEF != 3.02 {
		t.Errorf("gefion peak FP8 = %v sparse, %v dense EF; want 6.05, 3.02", inf.PeakFP8SparseEF, inf.PeakFP8DenseEF)
	}
	if inf.MaxPowerKW < 1940 || inf.MaxPowerKW > 1960 {
		t.Errorf("gefion max power = %v kW; want about 1,950", inf.MaxPowerKW)
	}
	want := []int{31, 32, 32, 32, 32, 32}
	for i, n := range want {
		if inf.NodesPerSU[i] != n {
			t.Errorf("SU %d has %d nodes; want %d", i+1, inf.NodesPerSU[i], n)
		}
	}
	if c.Nodes[30].Name != "dgx031" || c.Nodes[30].SU != 0 || c.Nodes[31].SU != 1 {
		t.Errorf("node 31 = %s in SU %d, node 32 in SU %d; want dgx031 in SU 0 and the next in SU 1", c.Nodes[30].Name, c.Nodes[30].SU, c.Nodes[31].SU)
	}
}

func TestParseFile(t *testing.T) {
	c, err := Parse([]byte(`
name = "mixed"
[[gpu_model]]
name = "L40S"
memory_bytes = 48_000_000_000
tdp_w = 350
dense_tflops = { fp8 = 733 }
[[node_model]]
name = "l40s-node"
gpus = 4
gpu = "L40S"
cpus = 64
[[nodes]]
names = "dgx[01-04]"
su = "a"
[[nodes]]
names = "l[1-2]"
model = "l40s-node"
su = "b"
[[partition]]
name = "big"
default = true
nodes = "dgx[01-04]"
[[partition]]
name = "small"
nodes = "l[1-2]"
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.TotalGPUs(); got != 40 {
		t.Errorf("TotalGPUs = %d; want 40", got)
	}
	if len(c.SUs) != 2 || len(c.Partitions) != 2 || c.DefaultPartition() != 0 {
		t.Errorf("SUs %d, partitions %d, default %d; want 2, 2, 0", len(c.SUs), len(c.Partitions), c.DefaultPartition())
	}
	if types := c.GPUTypes(); len(types) != 2 {
		t.Errorf("GPUTypes = %v; want two", types)
	}
}

func TestParseFileErrors(t *testing.T) {
	tests := []struct{ text, want string }{
		{`[[nodes]]` + "\n" + `names = "n[1-"`, "unmatched"},
		{`[[nodes]]` + "\n" + `names = "n1"` + "\n" + `model = "nope"`, "unknown model"},
		{`bogus = 1`, "unknown key"},
		{``, "no nodes"},
		{`[[nodes]]` + "\n" + `names = "n1,n1"`, "described twice"},
		{`[[nodes]]` + "\n" + `names = "../../x"`, `invalid node name "../../x": it has an empty label`},
		{`[[nodes]]` + "\n" + `names = "dgx_[01-02]"`, `invalid node name "dgx_01": character '_' at 4 is not allowed`},
		{`[[nodes]]` + "\n" + `names = "dgx_[01-99]"`, "98 more node names break the same rule"},
		{`[[nodes]]` + "\n" + `names = "dgx\u001b[31m"`, `unmatched`},
		{`[[nodes]]` + "\n" + `names = "dgx\u001b"`, `invalid node name "dgx\x1b"`},
		{`[[nodes]]` + "\n" + `names = "-n1"`, "RFC 1123"},
		{`[[nodes]]` + "\n" + `names = "n1"` + "\n" + `[[partition]]` + "\n" + `name = "p"` + "\n" + `nodes = "n2"`, "no node group"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.text))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) error = %v; want one containing %q", tt.text, err, tt.want)
		}
	}
}

func TestUnknownPreset(t *testing.T) {
	if _, err := Preset("nope"); err == nil || !strings.Contains(err.Error(), "gefion") {
		t.Errorf("Preset(nope) error = %v; want one listing the presets", err)
	}
}

func TestGPUModelFor(t *testing.T) {
	for _, name := range []string{"NVIDIA H100 80GB HBM3", "H100-SXM5-80GB", "h100"} {
		if g, ok := GPUModelFor(name); !ok || g.TDPWatts != 700 {
			t.Errorf("GPUModelFor(%q) = %v, %v; want the H100 SXM", name, g.Name, ok)
		}
	}
	if _, ok := GPUModelFor("NVIDIA L40S"); ok {
		t.Errorf("GPUModelFor(L40S) found a model; want none")
	}
}

func TestScaledPreset(t *testing.T) {
	c, err := Preset("gefion:12500")
	if err != nil {
		t.Fatal(err)
	}
	if got := c.TotalGPUs(); got != 100000 {
		t.Errorf("gefion:12500 has %d GPUs; want 100000", got)
	}
	for _, bad := range []string{"gefion:0", "gefion:x", "gefion:-3"} {
		if _, err := Preset(bad); err == nil {
			t.Errorf("Preset(%q) succeeded; want an error", bad)
		}
	}
}
