package twin

import (
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gefion-hpc/gefion/internal/cluster"
)

// DefaultIntensityGPerKWh is the location-based carbon intensity used
// unless a constant or a time series is given: about the Danish grid's
// average (96 g/kWh over 2023 consumption, Green Power Denmark; 117 g/kWh
// for 2020 generation, Energinet).
const DefaultIntensityGPerKWh = 100

// DefaultPUE is the power usage effectiveness assumed unless told: a
// typical figure for a modern liquid- and air-cooled data centre.
const DefaultPUE = 1.2

// EnergyModel turns what the machine does into energy and CO2. The zero
// value uses the cluster's own figures: each GPU draws its model's
// IdleWatts when no job holds it and its TDPWatts when one does, each node
// in service draws its BaseWatts besides its GPUs, and facility energy is
// that times DefaultPUE; a down node draws nothing.
//
// CO2 is reported two ways, as the GHG Protocol's scope-2 guidance asks:
// location-based (facility energy times the grid's intensity at the time,
// Intensity, DefaultIntensityGPerKWh when nil) and market-based (facility
// energy times MarketGPerKWh, the emission factor of the supply contract: 0,
// the zero value, under a 100% renewable contract).
type EnergyModel struct {
	GPUBusyW  float64 // overrides every GPU model's busy draw (TDP)
	GPUIdleW  float64 // overrides every GPU model's idle draw
	NodeBaseW float64 // overrides every node model's BaseWatts
	PUE       float64
	Intensity Intensity
	// MarketGPerKWh is the market-based emission factor.
	MarketGPerKWh float64
}

// energyParams is EnergyModel resolved against a cluster, per node.
type energyParams struct {
	baseW, idleW, deltaW []float64
	pue                  float64
	intensity            Intensity
	marketG              float64
}

func (m EnergyModel) params(c *cluster.Cluster) (energyParams, error) {
	for _, x := range []float64{m.GPUBusyW, m.GPUIdleW, m.NodeBaseW, m.PUE, m.MarketGPerKWh} {
		// NaN compares false with everything, so test for what is
		// wanted; NaN or Inf would end as NaN figures in the output.
		if !(x >= 0) || math.IsInf(x, 0) {
			return energyParams{}, fmt.Errorf("%w: power figures, PUE and emission factors must be finite and not negative (got %v)", ErrConfig, x)
		}
	}
	if m.PUE > 0 && m.PUE < 1 {
		return energyParams{}, fmt.Errorf("%w: --pue %v is below 1: a data centre uses at least the energy of its IT load", ErrConfig, m.PUE)
	}
	p := energyParams{pue: m.PUE, intensity: m.Intensity, marketG: m.MarketGPerKWh}
	if p.pue == 0 {
		p.pue = DefaultPUE
	}
	if p.intensity == nil {
		p.intensity = Constant(DefaultIntensityGPerKWh)
	}
	n := len(c.Nodes)
	p.baseW, p.idleW, p.deltaW = make([]float64, n), make([]float64, n), make([]float64, n)
	for i := range c.Nodes {
		md := c.Nodes[i].Model
		base, idle, busy := md.BaseWatts, md.GPU.IdleWatts, md.GPU.TDPWatts
		if m.NodeBaseW > 0 {
			base = m.NodeBaseW
		}
		if m.GPUIdleW > 0 {
			idle = m.GPUIdleW
		}
		if m.GPUBusyW > 0 {
			busy = m.GPUBusyW
		}
		busy = max(busy, idle)
		p.baseW[i], p.idleW[i], p.deltaW[i] = base, idle, busy-idle
	}
	return p, nil
}

// Intensity is a grid carbon intensity over virtual time, in g CO2/kWh.
type Intensity interface {
	// integrate returns the integral of the intensity over [a, b) seconds
	// of virtual time, in g/kWh x s.
	integrate(a, b int64) float64
}

// Constant is an intensity that does not change.
type Constant float64

func (c Constant) integrate(a, b int64) float64 { return float64(c) * float64(b-a) }

// IntensitySeries is a carbon-intensity time series: a step function holding each
// value from its time to the next, mapped onto virtual time so that virtual
// time 0 is the series' first point, and repeated past its end. Energinet's
// CO2Emis data set (5-minute values) exported as CSV fits it.
type IntensitySeries struct {
	t []int64   // seconds from the first point, t[0] == 0
	g []float64 // g/kWh from t[i]
	// period is the series' length: its last step lasts as long as the
	// one before it.
	period int64
	// cum[i] is the integral over [0, t[i]).
	cum []float64
}

// NewIntensitySeries builds a series from points (seconds, g/kWh), sorted
// by time here.
func NewIntensitySeries(ts []int64, gs []float64) (*IntensitySeries, error) {
	if len(ts) == 0 || len(ts) != len(gs) {
		return nil, errors.New("a carbon-intensity series needs at least one point")
	}
	idx := make([]int, len(ts))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(ts[a], ts[b]) })
	s := &IntensitySeries{}
	for _, i := range idx {
		if gs[i] < 0 || math.IsNaN(gs[i]) || math.IsInf(gs[i], 0) {
			return nil, fmt.Errorf("carbon intensity %v g/kWh: must be a number >= 0", gs[i])
		}
		if len(s.t) > 0 && ts[i] == s.t[len(s.t)-1]+ts[idx[0]] {
			continue // a duplicate time keeps its first value
		}
		s.t = append(s.t, ts[i]-ts[idx[0]])
		s.g = append(s.g, gs[i])
	}
	n := len(s.t)
	switch {
	case n == 1:
		s.period = 3600
	default:
		s.period = s.t[n-1] + (s.t[n-1] - s.t[n-2])
	}
	s.cum = make([]float64, n+1)
	for i := 0; i < n; i++ {
		end := s.period
		if i+1 < n {
			end = s.t[i+1]
		}
		s.cum[i+1] = s.cum[i] + s.g[i]*float64(end-s.t[i])
	}
	return s, nil
}

// upTo is the integral over [0, x) for 0 <= x.
func (s *IntensitySeries) upTo(x int64) float64 {
	whole := x / s.period
	rem := x % s.period
	i, _ := slices.BinarySearch(s.t, rem+1)
	i-- // s.t[i] <= rem
	return float64(whole)*s.cum[len(s.t)] + s.cum[i] + s.g[i]*float64(rem-s.t[i])
}

func (s *IntensitySeries) integrate(a, b int64) float64 {
	if a < 0 {
		a = 0
	}
	if b <= a {
		return 0
	}
	return s.upTo(b) - s.upTo(a)
}

// Mean returns the series' average intensity over one period.
func (s *IntensitySeries) Mean() float64 { return s.cum[len(s.t)] / float64(s.period) }

var (
	_ Intensity = Constant(0)
	_ Intensity = (*IntensitySeries)(nil)
)

// LoadIntensity reads a carbon-intensity CSV: a header, then rows whose
// time column is Unix seconds or a date-time and whose value column is
// g/kWh. The time column is the first whose name contains "time", "date"
// or "minutes" (Energinet's Minutes5UTC), the value column the first named
// co2emission, g_per_kwh, intensity, co2 or value. Energinet's CO2Emis export
// repeats each time for two price areas (DK1, DK2): area, when not "", keeps
// only rows whose PriceArea is area.
func LoadIntensity(path, area string) (*IntensitySeries, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("carbon-intensity file: %w", err)
	}
	defer f.Close()
	return ReadIntensity(f, path, area)
}

// ReadIntensity is LoadIntensity from a reader; name is used in messages.
func ReadIntensity(r io.Reader, name, area string) (*IntensitySeries, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	// Energinet's exports are semicolon-separated; sniff the header.
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("%s: reading the header: %v", name, err)
	}
	if len(head) == 1 && strings.Contains(head[0], ";") {
		return nil, fmt.Errorf("%s: the file is separated by semicolons: export it as comma-separated CSV", name)
	}
	tc, vc, ac := -1, -1, -1
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if tc < 0 && (strings.Contains(h, "time") || strings.Contains(h, "date") || strings.Contains(h, "minutes")) {
			tc = i
		}
		switch h {
		case "co2emission", "g_per_kwh", "intensity", "co2", "value", "carbon_intensity":
			if vc < 0 {
				vc = i
			}
		case "pricearea", "price_area", "area", "zone":
			ac = i
		}
	}
	if tc < 0 || vc < 0 {
		return nil, fmt.Errorf("%s: needs a time column (a name with time, date or minutes) and a value column (CO2Emission, g_per_kwh, intensity, co2 or value); it has %s", name, strings.Join(head, ","))
	}
	var ts []int64
	var gs []float64
	for {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		line, _ := cr.FieldPos(0)
		if area != "" && ac >= 0 && ac < len(row) && !strings.EqualFold(strings.TrimSpace(row[ac]), area) {
			continue
		}
		if tc >= len(row) || vc >= len(row) {
			return nil, fmt.Errorf("%s:%d: the row has %d columns; the header has %d", name, line, len(row), len(head))
		}
		t, ok := parseStampOrDate(strings.TrimSpace(row[tc]))
		if !ok {
			_, col := cr.FieldPos(tc)
			return nil, fmt.Errorf("%s:%d:%d: %q is not Unix seconds or a date-time", name, line, col, row[tc])
		}
		g, err := strconv.ParseFloat(strings.TrimSpace(row[vc]), 64)
		if err != nil || g < 0 || math.IsNaN(g) || math.IsInf(g, 0) {
			_, col := cr.FieldPos(vc)
			return nil, fmt.Errorf("%s:%d:%d: %q is not an intensity in g/kWh (a number >= 0)", name, line, col, row[vc])
		}
		ts = append(ts, t)
		gs = append(gs, g)
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("%s: no intensity rows%s", name, areaNote(area))
	}
	return NewIntensitySeries(ts, gs)
}

func areaNote(area string) string {
	if area == "" {
		return ""
	}
	return " for price area " + area
}

var stampLayouts = []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04"}

func parseStampOrDate(s string) (int64, bool) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, true
	}
	for _, l := range stampLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.Unix(), true
		}
	}
	return 0, false
}
