#!/bin/bash
#SBATCH --job-name=typo
#SBATCH --nodes=2

#SBATCH --time=2days
srun hostname
