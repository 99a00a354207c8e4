#!/bin/sh
#SLURM --job-name=from-another-site
#SBATCH --clusters=oldpod --hint=nomultithread
#SBATCH --constraint="nvme&ib"
#SBATCH --gres=gpu:h100:4,shard:2
#SBATCH --nodes=1,2,4 --ntasks-per-node=4
#SBATCH --exclusive=user --distribution=block:cyclic
#SBATCH --gpu-bind=closest --gpu-freq=high --cpu-freq=Performance
#SBATCH --mail-type=ALL --mail-user=ops@example.org
#SBATCH --time-min=30 --time=4:00:00 --switches=1@30
#SBATCH --export=NONE --chdir=/scratch/run --get-user-env
#SBATCH --reservation=maint --wckey=proj --licenses=matlab:1
#SBATCH --ntasks=16 --cpus-per-t=2
#SBATCH -vv --parsable --propagate=STACK --no-kill=off

exec ./run.sh
