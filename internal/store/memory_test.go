package store_test

import (
	"testing"

	"github.com/gefion-hpc/gefion/internal/store"
	"github.com/gefion-hpc/gefion/internal/store/storetest"
)

func TestMemoryConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return store.NewMemory() })
}
