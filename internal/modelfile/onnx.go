package modelfile

import (
	"fmt"
	"io"
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// ONNX field numbers (onnx.proto3). Only these are read; everything else, including every
// tensor's raw data, is skipped by length without being buffered.
const (
	onnxIRVersion       = 1
	onnxProducerName    = 2
	onnxProducerVersion = 3
	onnxDomain          = 4
	onnxModelVersion    = 5
	onnxDocString       = 6
	onnxGraph           = 7
	onnxOpsetImport     = 8

	graphName        = 2
	graphInitializer = 5

	tensorExternalData = 13
	tensorDataLocation = 14
	tensorLocExternal  = 1
)

const (
	maxONNXString   = 4 << 10
	maxONNXDoc      = 16 << 10
	maxONNXOpsets   = 64
	maxONNXExternal = 256
	// maxONNXInitHeader is the largest initializer read whole to look for external data. One
	// that stores its data externally is a few hundred bytes; a bigger one holds its weights
	// inline and is skipped.
	maxONNXInitHeader = 64 << 10
)

// ONNX is what the top-level ModelProto fields of an .onnx file say.
type ONNX struct {
	IRVersion       uint64
	ProducerName    string
	ProducerVersion string
	Domain          string
	ModelVersion    int64
	DocString       string
	GraphName       string
	Opsets          []string // domain=version; the default domain is written ai.onnx
	External        []string // external data files, relative to the model file's directory
}

// Format implements Header.
func (*ONNX) Format() string { return "onnx" }

// Parts are the model's external data files: weights over 2 GB live outside the .onnx file.
func (h *ONNX) Parts() []string { return h.External }

// parseONNX walks the protobuf wire format of a ModelProto from a stream. The graph is entered
// only to read its name and to find initializers whose data lives in external files; tensor
// bytes are discarded as they stream past, so memory does not grow with the model.
func parseONNX(r io.Reader, size int64) (*ONNX, error) {
	w := newWireReader(r, size)
	h := &ONNX{}
	sawGraph, sawIR := false, false
	for {
		num, typ, err := onnxTag(w)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("onnx: %w", err)
		}
		switch {
		case num == onnxIRVersion && typ == protowire.VarintType:
			if h.IRVersion, err = w.uvarint(); err != nil {
				return nil, fmt.Errorf("onnx: ir_version: %w", err)
			}
			sawIR = true
		case num == onnxModelVersion && typ == protowire.VarintType:
			v, err := w.uvarint()
			if err != nil {
				return nil, fmt.Errorf("onnx: model_version: %w", err)
			}
			h.ModelVersion = int64(v)
		case typ == protowire.BytesType && (num == onnxProducerName || num == onnxProducerVersion || num == onnxDomain || num == onnxDocString):
			limit := uint64(maxONNXString)
			if num == onnxDocString {
				limit = maxONNXDoc
			}
			s, err := onnxString(w, limit, fmt.Sprintf("field %d", num))
			if err != nil {
				return nil, fmt.Errorf("onnx: %w", err)
			}
			switch num {
			case onnxProducerName:
				h.ProducerName = s
			case onnxProducerVersion:
				h.ProducerVersion = s
			case onnxDomain:
				h.Domain = s
			case onnxDocString:
				h.DocString = s
			}
		case num == onnxGraph && typ == protowire.BytesType:
			n, err := w.uvarint()
			if err != nil {
				return nil, fmt.Errorf("onnx: graph length: %w", err)
			}
			if err := w.fits(n, "graph"); err != nil {
				return nil, fmt.Errorf("onnx: %w", err)
			}
			if err := parseONNXGraph(w, w.off+int64(n), h); err != nil {
				return nil, fmt.Errorf("onnx: graph: %w", err)
			}
			sawGraph = true
		case num == onnxOpsetImport && typ == protowire.BytesType:
			n, err := w.uvarint()
			if err != nil {
				return nil, fmt.Errorf("onnx: opset_import: %w", err)
			}
			b, err := w.bytes(n, maxONNXString, "opset_import")
			if err != nil {
				return nil, fmt.Errorf("onnx: %w", err)
			}
			if len(h.Opsets) < maxONNXOpsets {
				op, err := onnxOpset(b)
				if err != nil {
					return nil, fmt.Errorf("onnx: opset_import: %w", err)
				}
				h.Opsets = append(h.Opsets, op)
			}
		default:
			if err := onnxSkip(w, typ, fmt.Sprintf("field %d", num)); err != nil {
				return nil, fmt.Errorf("onnx: %w", err)
			}
		}
	}
	if !sawIR && !sawGraph {
		return nil, fmt.Errorf("onnx: no ir_version and no graph: not an ONNX model")
	}
	return h, nil
}

func parseONNXGraph(w *wireReader, end int64, h *ONNX) error {
	for w.off < end {
		num, typ, err := onnxTag(w)
		if err != nil {
			return err
		}
		if typ != protowire.BytesType {
			if err := onnxSkip(w, typ, fmt.Sprintf("graph field %d", num)); err != nil {
				return err
			}
			if w.off > end {
				return fmt.Errorf("field %d runs past the graph's end", num)
			}
			continue
		}
		n, err := w.uvarint()
		if err != nil {
			return err
		}
		if w.off > end || n > uint64(end-w.off) {
			return fmt.Errorf("field %d runs past the graph's end: %w", num, errTruncated)
		}
		switch {
		case num == graphName:
			b, err := w.bytes(n, maxONNXString, "graph name")
			if err != nil {
				return err
			}
			h.GraphName = string(b)
		case num == graphInitializer && n <= maxONNXInitHeader && len(h.External) < maxONNXExternal:
			b, err := w.bytes(n, maxONNXInitHeader, "initializer")
			if err != nil {
				return err
			}
			loc, err := onnxExternalLocation(b)
			if err != nil {
				return fmt.Errorf("initializer: %w", err)
			}
			if loc != "" && !slices.Contains(h.External, loc) {
				h.External = append(h.External, loc)
			}
		default:
			if err := w.skip(n, fmt.Sprintf("graph field %d", num)); err != nil {
				return err
			}
		}
	}
	if w.off != end {
		return fmt.Errorf("graph ends at %d, expected %d", w.off, end)
	}
	return nil
}

// onnxExternalLocation returns the external data file of an in-memory TensorProto whose
// data_location is EXTERNAL, or "".
func onnxExternalLocation(b []byte) (string, error) {
	external, location := false, ""
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == tensorDataLocation && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return "", protowire.ParseError(n)
			}
			external = v == tensorLocExternal
			b = b[n:]
		case num == tensorExternalData && typ == protowire.BytesType:
			entry, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return "", protowire.ParseError(n)
			}
			k, v, err := onnxStringPair(entry)
			if err != nil {
				return "", err
			}
			if k == "location" {
				location = v
			}
			b = b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return "", protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	if !external || location == "" {
		return "", nil
	}
	return location, nil
}

// onnxStringPair decodes a StringStringEntryProto (key = 1, value = 2).
func onnxStringPair(b []byte) (key, value string, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", "", protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType && (num == 1 || num == 2) {
			s, n := protowire.ConsumeString(b)
			if n < 0 {
				return "", "", protowire.ParseError(n)
			}
			if num == 1 {
				key = s
			} else {
				value = s
			}
			b = b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return "", "", protowire.ParseError(n)
		}
		b = b[n:]
	}
	return key, value, nil
}

// onnxOpset decodes an OperatorSetIdProto (domain = 1, version = 2) as "domain=version".
func onnxOpset(b []byte) (string, error) {
	domain, version := "", int64(0)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			s, n := protowire.ConsumeString(b)
			if n < 0 {
				return "", protowire.ParseError(n)
			}
			domain, b = s, b[n:]
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return "", protowire.ParseError(n)
			}
			version, b = int64(v), b[n:]
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return "", protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	if domain == "" {
		domain = "ai.onnx"
	}
	return fmt.Sprintf("%s=%d", domain, version), nil
}

func onnxTag(w *wireReader) (protowire.Number, protowire.Type, error) {
	start := w.off
	v, err := w.uvarint()
	if err != nil {
		if w.off == start && err == errTruncated {
			return 0, 0, io.EOF // a clean end between fields
		}
		return 0, 0, fmt.Errorf("field tag at byte %d: %w", start, err)
	}
	num, typ := protowire.DecodeTag(v)
	if !num.IsValid() {
		return 0, 0, fmt.Errorf("invalid field number %d at byte %d", num, start)
	}
	return num, typ, nil
}

func onnxString(w *wireReader, limit uint64, what string) (string, error) {
	n, err := w.uvarint()
	if err != nil {
		return "", fmt.Errorf("%s length: %w", what, err)
	}
	if n > limit {
		// Too long to be worth keeping (a doc string with an essay in it): skip it.
		return "", w.skip(n, what)
	}
	b, err := w.bytes(n, limit, what)
	return string(b), err
}

func onnxSkip(w *wireReader, typ protowire.Type, what string) error {
	switch typ {
	case protowire.VarintType:
		_, err := w.uvarint()
		return err
	case protowire.Fixed32Type:
		return w.skip(4, what)
	case protowire.Fixed64Type:
		return w.skip(8, what)
	case protowire.BytesType:
		n, err := w.uvarint()
		if err != nil {
			return fmt.Errorf("%s length: %w", what, err)
		}
		return w.skip(n, what)
	}
	return fmt.Errorf("%s: wire type %d is not used by ONNX", what, typ)
}
