"""Localization: where a fact, a concept, an expert's behaviour or a skill lives.

One subpackage per target, each exporting its public API:

* `unlearnscope.localize.facts` — causal tracing, activation / attribution patching (any patching
  metric), fact lookup, unit attribution, random controls and agreement;
* `unlearnscope.localize.concepts` — vocabulary projection of value vectors, lexicons, the concept
  scan and its causal validation, SAE features;
* `unlearnscope.localize.experts` — MoE routing statistics, UOE attribution, fTRI, random-expert
  controls, EMoE emergent experts for dense models;
* `unlearnscope.localize.skills` — FFN statistics, Neuron Adjust, Key Space Detection.
"""
