// Package devconfig owns the device configuration file of `sward run
// --config`: one YAML file for everything device-level, in the shape of
// Greengrass's initial configuration file (config.yaml, given to the
// Greengrass installer with --init-config), so a Greengrass device's file
// works unchanged.
//
//	system:                                # who the device is (Greengrass's system block)
//	  certificateFilePath: /var/lib/sward/device.pem.crt
//	  privateKeyPath: /var/lib/sward/private.pem.key
//	  rootCaPath: /var/lib/sward/AmazonRootCA1.pem
//	  rootpath: /var/lib/sward
//	  thingName: MyDevice
//	services:
//	  aws.greengrass.Nucleus:
//	    configuration:                     # Greengrass's nucleus configuration
//	      awsRegion: us-west-2
//	      iotDataEndpoint: prefix-ats.iot.us-west-2.amazonaws.com
//	      iotCredEndpoint: prefix.credentials.iot.us-west-2.amazonaws.com
//	      iotRoleAlias: SwardTokenExchangeRoleAlias
//	      mqtt: {port: 8883, spooler: {maxSizeInBytes: 2621440}}
//	  aws.greengrass.SecretManager:
//	    configuration:                     # the secrets the nucleus fetches
//	      cloudSecrets: [{arn: "arn:aws:secretsmanager:us-west-2:123456789012:secret:db-AbCdEf"}]
//	sward:                                 # Sward's own settings: `sward run` flag names
//	  recipes: /opt/recipes
//	  mqtt-listen: 127.0.0.1:1883
//
// Parse reads the file into File: an unknown key is a Warning naming its
// path and line, a value of the wrong type an *Error naming the path, the
// line and the type expected. File.SecretManager holds the cloudSecrets,
// File.ShadowManager the shadow manager's configuration (synchronize,
// strategy, rateLimits, shadowDocumentSizeLimitBytes).
// File.Cloud is what the IoT Core link needs
// (NetworkProxy.HTTPProxy its proxy as an http.Transport Proxy function);
// File.TopicMappings the MQTT bridge's mappings (Greengrass's
// services.aws.greengrass.clientdevices.mqtt.Bridge.configuration.mqttTopicMapping);
// Marshal writes a File back in the same shape (`sward provision`). The
// package does no I/O beyond Load and knows nothing of flags: the CLI maps
// the sward section and the Greengrass keys onto its flags.
package devconfig
