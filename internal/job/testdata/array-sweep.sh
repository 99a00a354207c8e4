#!/bin/bash
#SBATCH -J hparam-sweep
#SBATCH -A med-imaging
#SBATCH -p gpu,preempt
#SBATCH -q normal
#SBATCH -a 0-15:4%2
#SBATCH -G h100:1
#SBATCH -c 16
#SBATCH --mem-per-cpu=8G
#SBATCH -t 90
#SBATCH -d afterok:1041:1042,afterany:1043
#SBATCH --begin=now+2hours
#SBATCH --nice=50
#SBATCH -o sweep-%A_%a.out
#SBATCH --open-mode=append
#SBATCH --no-requeue
#SBATCH --comment "duration=300 sweep"

python sweep.py --index "$SLURM_ARRAY_TASK_ID"
