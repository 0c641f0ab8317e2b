"""The attribute names of torch.nn.Module, nn.Sequential and shapecli's containers (model/flow.py,
model/glue.py): a spec's `name:` cannot take one, since add_module/register_parameter refuse a name the
module already has as an attribute ("attribute 'forward' already exists"). No torch here: the parser
refuses such a name with the other naming mistakes; tests/test_spec.py checks the list against the
installed torch and containers, and the model builder turns a refusal the list misses into a spec error.
"""
from __future__ import annotations

MODULE_ATTRS = frozenset("""
T_destination __add__ __annotations__ __call__ __class__ __delattr__ __delitem__ __dict__ __dir__
__doc__ __eq__ __format__ __ge__ __getattr__ __getattribute__ __getitem__ __getstate__ __gt__
__hash__ __iadd__ __imul__ __init__ __init_subclass__ __iter__ __le__ __len__ __lt__ __module__
__mul__ __ne__ __new__ __reduce__ __reduce_ex__ __repr__ __rmul__ __setattr__ __setitem__
__setstate__ __sizeof__ __str__ __subclasshook__ __weakref__ _apply _backward_hooks
_backward_pre_hooks _buffers _build _call_impl _compiled_call_impl _forward_hooks
_forward_hooks_always_called _forward_hooks_with_kwargs _forward_pre_hooks
_forward_pre_hooks_with_kwargs _get_backward_hooks _get_backward_pre_hooks _get_item_by_idx
_get_name _is_full_backward_hook _load _load_from_state_dict _load_state_dict_post_hooks
_load_state_dict_pre_hooks _maybe_warn_non_full_backward_hook _modules _named_members
_non_persistent_buffers_set _parameters _read _register_load_state_dict_pre_hook
_register_state_dict_hook _replicate_for_data_parallel _save_to_state_dict _slow_forward
_state_dict_hooks _state_dict_pre_hooks _tape _version _wrapped_call_impl add_module append apply
bfloat16 buffers call_super_init children combine compile cpu cuda dim double dump_patches eval
extend extra_repr feeds float forward get_buffer get_extra_state get_parameter get_submodule half
input_names inputs insert ipu load_state_dict modules mtia named_buffers named_children
named_modules named_parameters owned_at parameters parts pop reach refs register_backward_hook
register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
register_full_backward_pre_hook register_load_state_dict_post_hook register_load_state_dict_pre_hook
register_module register_parameter register_state_dict_post_hook register_state_dict_pre_hook
requires_grad_ run saves set_extra_state set_submodule share_memory state_dict tensors to to_empty
train training type where xpu zero_grad
""".split())
