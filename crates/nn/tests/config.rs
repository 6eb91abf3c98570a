//! Model configs are user input: bad ones are errors that name the layer, never aborts.

use moreml_cipher::PlainTensor;
use moreml_nn::{Model, ModelConfig};

fn build(json: &str) -> Result<Model<PlainTensor<f64>>, String> {
    let cfg: ModelConfig = serde_json::from_str(json).map_err(|e| e.to_string())?;
    Model::new(cfg).map_err(|e| e.to_string())
}

#[test]
fn absurd_layer_size_is_an_error_not_an_abort() {
    // Found by fuzzing: this asked for 32 TB and aborted the process.
    let err =
        build(r#"{"input":[4],"layers":[{"kind":"dense","out":1000000000000}],"loss":"mse","seed":1}"#).unwrap_err();
    assert!(err.contains("layer 0 (dense)") && err.contains("too large"), "{err}");
}

#[test]
fn unknown_layer_kind_is_named() {
    let err = build(r#"{"input":[4],"layers":[{"kind":"densee","out":3}],"loss":"mse"}"#).unwrap_err();
    assert!(err.contains("densee"), "{err}");
}

#[test]
fn shape_errors_name_the_layer() {
    let err =
        build(r#"{"input":[4],"layers":[{"kind":"conv2d","out_channels":2,"kernel":3}],"loss":"mse"}"#).unwrap_err();
    assert!(err.contains("layer 0 (conv2d)") && err.contains("[h, w, c]"), "{err}");
    let err = build(r#"{"input":[6,6,1],"layers":[{"kind":"dense","out":3}],"loss":"mse"}"#).unwrap_err();
    assert!(err.contains("layer 0 (dense)") && err.contains("flatten"), "{err}");
}

#[test]
fn bad_activation_parameters_are_errors() {
    let err = build(r#"{"input":[4],"layers":[{"kind":"act","f":{"kind":"relu_poly","range":-1}}],"loss":"mse"}"#)
        .unwrap_err();
    assert!(err.contains("range"), "{err}");
}

#[test]
fn unknown_field_is_an_error() {
    let err = build(r#"{"input":[4],"layers":[{"kind":"dense","out":3,"bias":false}],"loss":"mse"}"#).unwrap_err();
    assert!(err.contains("bias"), "{err}");
}

#[test]
fn builtin_configs_round_trip_as_json() {
    for cfg in [ModelConfig::mlp(784, 128, 10), ModelConfig::cnn(28, 8, 128, 10)] {
        let json = serde_json::to_string(&cfg).unwrap();
        assert_eq!(serde_json::from_str::<ModelConfig>(&json).unwrap(), cfg);
        Model::<PlainTensor<f64>>::new(cfg).unwrap();
    }
}
