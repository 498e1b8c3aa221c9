#!/usr/bin/env bash
# Options shared by asr.sh and tts.sh (sourced between opts_begin and parse_options.sh, so
# each is a --flag of both scripts and listed by --help with the comment after it).
__lst_option_files+=" ${BASH_SOURCE[0]}"
# General
stage=0                # first stage to run
stop_stage=10000       # last stage to run
skip_stages=""         # stages not to run, e.g. "6 7"
nj=2                   # jobs (shards) of the unit stage, dispatched by ${train_cmd} of cmd.sh
python=python3         # the python that runs the lst tools
dumpdir=dump           # prepared data: raw audio, units, corpora
expdir=exp             # experiments
# Data
src_data_dir=""        # directory holding <set>/{wav.scp,text} kaldi dirs; empty: run local/data.sh
local_data_opts=""     # options of local/data.sh
train_set=train        # fine-tuning set
valid_set=valid        # validation set
test_sets="test"       # evaluation sets
# Pretrained models
pretrained_model="exp/packed/token_lm.zip exp/packed/lst.zip"  # packed models (lst.sh stage 11); stage 0 makes missing ones
pretrain_recipe=""     # egs/<corpus>/lst1 that stage 0 pretrains in (a private copy)
pretrain_work=exp/pretrain  # where stage 0 trains (the private copy of --pretrain_recipe)
pretrain_configs="conf/train_token_lm_debug.yaml conf/train_lst_debug.yaml"  # lst1 configs stage 0 trains
pretrain_args=""       # extra lst1 options of stage 0 (shell-quoted), e.g. "--lst_args '--max_epoch 5'"
# Fine-tuning
finetune_args=""       # extra options of lst.bin.lst_train for fine-tuning
init_from_pretrained=true  # false: fine-tune the package's model from random weights (same architecture, BPE, k-means
                       #   and recipe; no --init_param): the control that says what the pretraining adds
lm_text_case=keep      # keep | lower: case of the transcripts in the fine-tuning corpus (lower for a backbone whose BPE saw lower-case text; scoring ignores case)
text_frontend=words    # (tts) words | phones: the model reads the transcripts as written, or as ARPAbet phones from the CMU
                       #   dictionary (lst.bin.phonemize, like ESPnet's --token_type phn), in fine-tuning and in synthesis
init_model=valid.loss.best.pth  # fine-tuned checkpoint that is packed and decoded
inference_args=""      # extra options of the inference tool
