#!/bin/bash
#SBATCH --job-name=ghz-34
#SBATCH --qubits=34
#SBATCH --qpu-backend=mgpu
#SBATCH --qpu-precision=double
#SBATCH --time=30:00
python ghz.py
