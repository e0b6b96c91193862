package modelfile

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sort"
)

const (
	// maxSafetensorsHeader caps the JSON header. The format's own reference implementation
	// refuses headers over 100 MB; a bigger claim is corrupt or hostile.
	maxSafetensorsHeader = 100 << 20
	// maxMetadataEntries and maxMetadataValue bound how much of __metadata__ reaches the BOM.
	maxMetadataEntries = 64
	maxMetadataValue   = 1024
)

// Safetensors is what the JSON header of one .safetensors file says.
type Safetensors struct {
	Tensors    uint64
	Parameters uint64
	DTypes     []string
	Metadata   map[string]string // __metadata__, string values only
}

// Format implements Header.
func (*Safetensors) Format() string { return "safetensors" }

type safetensorsTensor struct {
	DType       string   `json:"dtype"`
	Shape       []uint64 `json:"shape"`
	DataOffsets []uint64 `json:"data_offsets"`
}

// parseSafetensors reads the header of a .safetensors file: an 8-byte little-endian length N,
// then N bytes of JSON mapping tensor names to dtype, shape and data offsets. size is the file's
// size (negative if unknown); N is checked against it and the cap before anything is read, and
// the header is read incrementally so memory follows the bytes present, not the bytes claimed.
func parseSafetensors(r io.Reader, size int64) (*Safetensors, error) {
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, fmt.Errorf("safetensors: header length: %w", errTruncated)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	switch {
	case size >= 0 && size < 8:
		return nil, fmt.Errorf("safetensors: file of %d bytes has no header: %w", size, errTruncated)
	case n < 2:
		return nil, fmt.Errorf("safetensors: header length %d is too small for a JSON object", n)
	case n > maxSafetensorsHeader:
		return nil, fmt.Errorf("safetensors: header length %d is over the %d-byte limit", n, maxSafetensorsHeader)
	case size >= 0 && n > uint64(size)-8:
		return nil, fmt.Errorf("safetensors: header length %d is beyond the file's %d bytes: %w", n, size, errTruncated)
	}
	raw, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err != nil {
		return nil, fmt.Errorf("safetensors: header: %w", err)
	}
	if uint64(len(raw)) != n {
		return nil, fmt.Errorf("safetensors: header claims %d bytes, file has %d: %w", n, len(raw), errTruncated)
	}
	raw = bytes.TrimRight(raw, " ") // writers pad the header to 8-byte alignment with spaces
	if len(raw) == 0 || raw[0] != '{' {
		return nil, fmt.Errorf("safetensors: header is not a JSON object")
	}
	var entries map[string]json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		return nil, fmt.Errorf("safetensors: header JSON: %w", err)
	}
	dataSize := uint64(0)
	if size >= 0 {
		dataSize = uint64(size) - 8 - n
	}
	h := &Safetensors{}
	dtypes := map[string]bool{}
	names := make([]string, 0, len(entries))
	for k := range entries {
		names = append(names, k)
	}
	sort.Strings(names) // so the first error reported is always the same one
	for _, name := range names {
		val := entries[name]
		if name == "__metadata__" {
			md, err := safetensorsMetadata(val)
			if err != nil {
				return nil, err
			}
			h.Metadata = md
			continue
		}
		var t safetensorsTensor
		if err := json.Unmarshal(val, &t); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %.64q: %w", name, err)
		}
		if t.DType == "" {
			return nil, fmt.Errorf("safetensors: tensor %.64q has no dtype", name)
		}
		if len(t.DataOffsets) != 2 || t.DataOffsets[0] > t.DataOffsets[1] {
			return nil, fmt.Errorf("safetensors: tensor %.64q: data_offsets must be [begin, end]", name)
		}
		if size >= 0 && t.DataOffsets[1] > dataSize {
			return nil, fmt.Errorf("safetensors: tensor %.64q: data ends at %d, past the %d data bytes in the file: %w", name, t.DataOffsets[1], dataSize, errTruncated)
		}
		count := uint64(1)
		for _, d := range t.Shape {
			count = mulSat(count, d)
		}
		h.Tensors++
		h.Parameters = addSat(h.Parameters, count)
		if len(dtypes) < 64 {
			dtypes[t.DType] = true
		}
	}
	for d := range dtypes {
		h.DTypes = append(h.DTypes, d)
	}
	slices.Sort(h.DTypes)
	return h, nil
}

func safetensorsMetadata(val json.RawMessage) (map[string]string, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(val, &all); err != nil {
		return nil, fmt.Errorf("safetensors: __metadata__ must be an object of strings: %w", err)
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := map[string]string{}
	for _, k := range keys {
		var s string
		if json.Unmarshal(all[k], &s) != nil || len(s) > maxMetadataValue || len(k) > 256 {
			continue // the format says string → string; anything else, or anything huge, is not kept
		}
		out[k] = s
		if len(out) == maxMetadataEntries {
			break
		}
	}
	return out, nil
}
