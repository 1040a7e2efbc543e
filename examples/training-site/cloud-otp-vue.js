// A Vue 3 component around the <cloud-otp> element: props for its attributes, its DOM events as
// Vue events (`pass`, `error`, `expired`, each with the event's detail), and `reset()` exposed to
// the parent through a template ref. Copy it into a Vue project as it is (examples/training-site).
import { h, ref } from 'vue';

export default {
  name: 'CloudOtp',
  props: {
    server: { type: String, required: true },
    session: { type: String, required: true },
    lang: { type: String, default: undefined },
    theme: { type: String, default: undefined },
    size: { type: String, default: undefined },
  },
  emits: ['pass', 'error', 'expired'],
  setup(props, { emit, expose }) {
    const element = ref(null);
    expose({ reset: (session) => element.value?.reset(session) });
    return () => h('cloud-otp', {
      ref: element,
      server: props.server,
      session: props.session,
      lang: props.lang,
      theme: props.theme,
      size: props.size,
      'onCloud-otp-pass': (event) => emit('pass', event.detail),
      'onCloud-otp-error': (event) => emit('error', event.detail),
      'onCloud-otp-expired': (event) => emit('expired', event.detail),
    });
  },
};
